//! `lrat._core`: thin PyO3 bindings over `lrat-core`.

mod errors;
mod index;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("LratError", py.get_type::<errors::LratError>())?;
    m.add("TrajectoryParseError", py.get_type::<errors::TrajectoryParseError>())?;
    m.add("IndexFileError", py.get_type::<errors::IndexFileError>())?;
    m.add_class::<index::Index>()?;
    Ok(())
}
