//! Reading trajectories: a streaming reader that yields batches, each convertible to Arrow tables.

use std::str::FromStr;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use lrat_core::pipeline::{Issue, Severity};
use lrat_core::source::{expand_inputs, InputFile};
use lrat_core::{tables, Batch, Format, FormatOptions, ReadOptions, ToolNames, Totals, TrajectoryStream, UnknownTools};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyTable;

use crate::errors::{invalid_argument, record_error, table_error, to_py};

/// Streams trajectories from files, directories and globs, in batches.
#[pyclass(module = "lrat._core")]
pub struct TrajectoryReader {
    stream: Option<TrajectoryStream>,
    include_content: bool,
}

#[pymethods]
impl TrajectoryReader {
    #[new]
    #[pyo3(signature = (
        inputs, *, format=None, batch_size=4096, batch_bytes=16777216, strict=false, search_tools=None, browse_tools=None,
        unknown_tools="warn", max_record_bytes=67108864, include_content=true, names=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        inputs: Vec<String>,
        format: Option<&str>,
        batch_size: usize,
        batch_bytes: usize,
        strict: bool,
        search_tools: Option<Vec<String>>,
        browse_tools: Option<Vec<String>>,
        unknown_tools: &str,
        max_record_bytes: usize,
        include_content: bool,
        names: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let format = match format {
            None | Some("auto") => None,
            Some(name) => Some(Format::from_str(name).map_err(invalid_argument)?),
        };
        let defaults = ToolNames::default();
        let tools = ToolNames::new(
            search_tools.unwrap_or_else(|| defaults.search_names().to_vec()),
            browse_tools.unwrap_or_else(|| defaults.browse_names().to_vec()),
        );
        let options = ReadOptions {
            format: FormatOptions {
                format,
                tools,
                unknown_tools: UnknownTools::from_str(unknown_tools).map_err(invalid_argument)?,
            },
            batch_size,
            batch_bytes,
            max_record_bytes,
            strict,
        };
        let stream = match names {
            None => py.detach(|| TrajectoryStream::open(&inputs, options)),
            Some(names) => {
                if names.len() != inputs.len() {
                    return Err(invalid_argument(format!(
                        "names: {} names for {} inputs (one name per file)",
                        names.len(),
                        inputs.len()
                    )));
                }
                let files = inputs.into_iter().zip(names).map(|(path, name)| InputFile { path: path.into(), name });
                let files: Vec<InputFile> = files.collect();
                py.detach(|| TrajectoryStream::open_files(files, options))
            }
        }
        .map_err(|e| to_py(py, e))?;
        Ok(TrajectoryReader { stream: Some(stream), include_content })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<TrajectoryBatch>> {
        let Some(stream) = self.stream.as_mut() else { return Ok(None) };
        match py.detach(|| stream.next()) {
            Some(Ok(batch)) => Ok(Some(TrajectoryBatch { batch, include_content: self.include_content })),
            Some(Err(e)) => {
                self.stream = None;
                Err(to_py(py, e))
            }
            None => Ok(None),
        }
    }

    /// Totals so far: records, bytes, trajectories, errors, warnings.
    fn totals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = self.stream.as_ref().map(|s| s.totals()).unwrap_or_default();
        totals_dict(py, &t)
    }
}

fn totals_dict<'py>(py: Python<'py>, t: &Totals) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("records", t.records)?;
    d.set_item("bytes", t.bytes)?;
    d.set_item("trajectories", t.trajectories)?;
    d.set_item("errors", t.errors)?;
    d.set_item("warnings", t.warnings)?;
    Ok(d)
}

/// The trajectories parsed from one batch of records.
#[pyclass(module = "lrat._core")]
pub struct TrajectoryBatch {
    pub(crate) batch: Batch,
    include_content: bool,
}

impl Drop for TrajectoryBatch {
    fn drop(&mut self) {
        lrat_core::background_drop::drop_in_background(std::mem::take(&mut self.batch));
    }
}

fn table(batches: Vec<RecordBatch>, schema: SchemaRef) -> PyResult<PyTable> {
    PyTable::try_new(batches, schema)
}

#[pymethods]
impl TrajectoryBatch {
    fn __len__(&self) -> usize {
        self.batch.trajectories.len()
    }

    /// Records read for this batch, good and bad.
    #[getter]
    fn records(&self) -> u64 {
        self.batch.records
    }

    /// Bytes of record text read for this batch.
    #[getter]
    fn bytes(&self) -> u64 {
        self.batch.bytes
    }

    #[getter]
    fn n_errors(&self) -> usize {
        self.batch.issues.iter().filter(|i| i.severity == Severity::Error).count()
    }

    /// The first error of the batch as a `TrajectoryParseError`, or None.
    fn first_error(&self, py: Python<'_>) -> Option<PyErr> {
        self.batch.issues.iter().find(|i| i.severity == Severity::Error).map(|i| record_error(py, &i.error))
    }

    /// The canonical tables as Arrow (PyCapsule stream) objects, keyed by table name.
    fn tables<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        tables_dict(py, &self.batch, self.include_content)
    }
}

fn tables_dict<'py>(py: Python<'py>, batch: &Batch, include_content: bool) -> PyResult<Bound<'py, PyDict>> {
    let chunks = py
        .detach(|| tables::build_chunks(&batch.trajectories, &batch.issues, include_content))
        .map_err(|e| table_error("", e))?;
    let d = PyDict::new(py);
    d.set_item("trajectories", table(chunks.trajectories, tables::trajectories_schema())?)?;
    d.set_item("steps", table(chunks.steps, tables::steps_schema())?)?;
    d.set_item("search_results", table(chunks.search_results, tables::search_results_schema())?)?;
    d.set_item("browses", table(chunks.browses, tables::browses_schema())?)?;
    d.set_item("errors", table(chunks.errors, tables::errors_schema())?)?;
    Ok(d)
}

/// The files that `inputs` (files, directories, globs) expand to, in the order a reader reads them,
/// and what listing met as rows of the errors table: directories that could not be read (errors;
/// each counts as a bad record) and second paths to a file already listed (warnings). With
/// `strict`, the first unreadable directory is raised instead.
#[pyfunction]
#[pyo3(signature = (inputs, *, strict=false))]
pub fn list_inputs(py: Python<'_>, inputs: Vec<String>, strict: bool) -> PyResult<(Vec<String>, PyTable)> {
    let listed = py.detach(|| expand_inputs(&inputs)).map_err(|e| to_py(py, e))?;
    if strict {
        if let Some(e) = listed.unreadable.first() {
            return Err(record_error(py, e));
        }
    }
    let issues: Vec<Issue> = listed
        .unreadable
        .into_iter()
        .map(|error| Issue { severity: Severity::Error, error })
        .chain(listed.repeated.into_iter().map(|error| Issue { severity: Severity::Warning, error }))
        .collect();
    let errors = tables::errors_batch(&issues).map_err(|e| table_error("", e))?;
    let files = listed.files.iter().map(|p| p.display().to_string()).collect();
    Ok((files, table(vec![errors], tables::errors_schema())?))
}

/// The canonical tables with no rows.
#[pyfunction]
pub fn empty_tables(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    tables_dict(py, &Batch::default(), true)
}

/// Writes batches of trajectories as the canonical tables in Parquet files under a directory.
#[pyclass(module = "lrat._core")]
pub struct TablesWriter {
    writer: std::sync::Mutex<Option<lrat_core::parquet_out::TablesWriter>>,
}

#[pymethods]
impl TablesWriter {
    #[new]
    fn new(py: Python<'_>, directory: std::path::PathBuf) -> PyResult<Self> {
        let writer =
            py.detach(|| lrat_core::parquet_out::TablesWriter::create(&directory)).map_err(|e| to_py(py, e))?;
        Ok(TablesWriter { writer: std::sync::Mutex::new(Some(writer)) })
    }

    fn write(&self, py: Python<'_>, batch: PyRef<'_, TrajectoryBatch>) -> PyResult<()> {
        let b = &batch.batch;
        let include_content = batch.include_content;
        let slot = &self.writer;
        py.detach(|| {
            let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
            let writer =
                guard.as_mut().ok_or_else(|| lrat_core::Error::InvalidOption("the writer is closed".into()))?;
            let chunks = tables::build_chunks(&b.trajectories, &b.issues, include_content)
                .map_err(|e| lrat_core::Error::Other(e.to_string()))?;
            writer.write(&chunks)
        })
        .map_err(|e| to_py(py, e))
    }

    /// Finishes the files; returns their paths.
    fn close(&self, py: Python<'_>) -> PyResult<Vec<std::path::PathBuf>> {
        let taken = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        match taken {
            Some(w) => py.detach(|| w.close()).map_err(|e| to_py(py, e)),
            None => Ok(Vec::new()),
        }
    }
}
