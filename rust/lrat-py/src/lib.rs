//! `lrat._core`: thin PyO3 bindings over `lrat-core`.

mod errors;
mod index;
mod mining;
mod trajectories;

use pyo3::prelude::*;

// Parsing allocates and frees many short strings on every worker thread, where glibc's malloc
// spends a fifth of the time (perf, `benches/bench_parse.py`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (not among `libmimalloc-sys`'s named constants).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for a second before handing it back to the OS. Each batch frees what the
/// previous one allocated; with mimalloc's default 10 ms the next batch faults in (and the kernel
/// zeroes) fresh pages again, a quarter of the parsing time. `MIMALLOC_PURGE_DELAY` still wins.
fn keep_freed_memory_warm() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an integer option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    keep_freed_memory_warm();
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("LratError", py.get_type::<errors::LratError>())?;
    m.add("TrajectoryParseError", py.get_type::<errors::TrajectoryParseError>())?;
    m.add_class::<trajectories::TrajectoryReader>()?;
    m.add_class::<trajectories::TrajectoryBatch>()?;
    m.add_class::<trajectories::TablesWriter>()?;
    m.add_class::<pyo3_arrow::PyTable>()?;
    m.add_function(wrap_pyfunction!(trajectories::empty_tables, m)?)?;
    m.add_function(wrap_pyfunction!(trajectories::list_inputs, m)?)?;
    m.add("LOG_EXTENSIONS", lrat_core::source::KNOWN_EXTENSIONS.to_vec())?;
    m.add_class::<mining::PyTokenCounter>()?;
    m.add_class::<mining::PyDocumentStore>()?;
    m.add_function(wrap_pyfunction!(mining::browse_reasonings, m)?)?;
    m.add_function(wrap_pyfunction!(mining::mine_batch, m)?)?;
    m.add_function(wrap_pyfunction!(mining::judge_reasonings, m)?)?;
    m.add_function(wrap_pyfunction!(mining::attach_texts, m)?)?;
    m.add("DEFAULT_SEARCH_TOOLS", lrat_core::tools::DEFAULT_SEARCH_TOOLS.to_vec())?;
    m.add("DEFAULT_BROWSE_TOOLS", lrat_core::tools::DEFAULT_BROWSE_TOOLS.to_vec())?;
    m.add("IndexFileError", py.get_type::<errors::IndexFileError>())?;
    m.add_class::<index::Index>()?;
    Ok(())
}
