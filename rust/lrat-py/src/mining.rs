//! Mining a batch of trajectories: the judge's inputs, the examples, and the document texts.

use std::path::PathBuf;
use std::str::FromStr;

use std::sync::Mutex;

use lrat_core::mine::attach::{texts_schema, DocumentTexts};
use lrat_core::mine::documents::DocumentStore;
use lrat_core::mine::{self, table, Cut, Rule, TokenCounter, Verdicts};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyTable;

use crate::errors::{invalid_argument, table_error, to_py};
use crate::trajectories::TrajectoryBatch;

/// Counts tokens with a `tokenizer.json` (a file or a model directory), or whitespace words.
#[pyclass(module = "lrat._core", name = "TokenCounter", frozen)]
pub struct PyTokenCounter {
    pub(crate) inner: TokenCounter,
}

#[pymethods]
impl PyTokenCounter {
    /// `TokenCounter(path)` loads a tokenizer; `TokenCounter(None)` counts whitespace words.
    #[new]
    #[pyo3(signature = (path=None))]
    fn new(py: Python<'_>, path: Option<PathBuf>) -> PyResult<Self> {
        let inner = match path {
            None => TokenCounter::Whitespace,
            Some(p) => py.detach(|| TokenCounter::from_file(&p)).map_err(|e| to_py(py, e))?,
        };
        Ok(PyTokenCounter { inner })
    }

    fn count(&self, text: &str) -> u32 {
        self.inner.count(text)
    }

    fn count_many(&self, py: Python<'_>, texts: Vec<String>) -> Vec<u32> {
        use rayon::prelude::*;
        let counter = &self.inner;
        py.detach(|| lrat_core::pool::pool().install(|| texts.par_iter().map(|t| counter.count(t)).collect()))
    }

    #[getter]
    fn is_whitespace(&self) -> bool {
        matches!(self.inner, TokenCounter::Whitespace)
    }
}

/// The best text of every document seen in the batches mined with it.
#[pyclass(module = "lrat._core", name = "DocumentStore", frozen)]
#[derive(Default)]
pub struct PyDocumentStore {
    inner: Mutex<DocumentStore>,
}

impl PyDocumentStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, DocumentStore> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[pymethods]
impl PyDocumentStore {
    #[new]
    fn new() -> Self {
        PyDocumentStore::default()
    }

    fn __len__(&self) -> usize {
        self.lock().len()
    }

    /// `doc_id, title, text, text_source` of every document, in the order they first appeared.
    fn table(&self, py: Python<'_>) -> PyResult<PyTable> {
        let batch = py.detach(|| table::documents_batch(self.lock().documents())).map_err(|e| table_error("", e))?;
        PyTable::try_new(vec![batch], table::documents_schema())
    }
}

/// The post-browse reasoning of every browse of every trajectory of the batch, in order: what a
/// judge reads. One list per trajectory.
#[pyfunction]
pub fn browse_reasonings(batch: PyRef<'_, TrajectoryBatch>) -> Vec<Vec<String>> {
    batch
        .batch
        .trajectories
        .iter()
        .map(|t| mine::browse_reasonings(t).into_iter().map(|(_, r)| r.to_string()).collect())
        .collect()
}

/// Mines the batch. `judge` (required) is "rules" (the built-in judge), "none" or None (accept
/// every browse: the naive variant, as `lrat.mine(judge=None)`), or a list with one list of booleans
/// per trajectory, one per browse in `browse_reasonings` order.
/// With `chain_queries`, query chains add examples (`Example::chained`); with `credit_earlier`,
/// accepted pages are credited to the earlier searches that listed them (`Example::credited`).
/// The document texts of the batch go into `documents`, when given.
#[pyfunction]
#[pyo3(signature = (batch, counter, *, judge, rule="segment", chain_queries=false, credit_earlier=false, documents=None))]
#[allow(clippy::too_many_arguments)] // the keyword arguments of the Python signature
pub fn mine_batch<'py>(
    py: Python<'py>,
    batch: PyRef<'py, TrajectoryBatch>,
    counter: PyRef<'py, PyTokenCounter>,
    judge: Option<&Bound<'py, PyAny>>,
    rule: &str,
    chain_queries: bool,
    credit_earlier: bool,
    documents: Option<PyRef<'py, PyDocumentStore>>,
) -> PyResult<Bound<'py, PyDict>> {
    let cut = Cut { rule: Rule::from_str(rule).map_err(invalid_argument)?, chain_queries, credit_earlier };
    let given: Option<Vec<Vec<bool>>> = match judge {
        Some(j) if !j.is_instance_of::<pyo3::types::PyString>() => Some(j.extract()?),
        _ => None,
    };
    // None is the naive judge, as in `lrat.mine`; a string names a judge.
    let named = match judge {
        None => "none".to_string(),
        Some(j) => j.extract::<String>().unwrap_or_default(),
    };
    let verdicts = match (named.as_str(), &given) {
        (_, Some(g)) => {
            let expected = batch.batch.trajectories.len();
            if g.len() != expected {
                return Err(invalid_argument(format!(
                    "judge verdicts cover {} trajectories, the batch has {expected}",
                    g.len()
                )));
            }
            Verdicts::Given(g)
        }
        ("rules", None) => Verdicts::Rules,
        ("none", None) => Verdicts::AcceptAll,
        (other, None) => {
            return Err(invalid_argument(format!("judge must be 'rules', 'none' or a list of verdicts, not {other:?}")))
        }
    };
    let trajectories = &batch.batch.trajectories;
    let counter = &counter.inner;
    let documents = documents.as_deref();
    let (examples_batch, stats) = py.detach(|| {
        lrat_core::pool::pool().install(|| {
            let ((examples, stats), ()) = rayon::join(
                || mine::mine_batch(trajectories, cut, &verdicts, counter),
                || {
                    if let Some(store) = documents {
                        store.lock().add(trajectories);
                    }
                },
            );
            (table::examples_batch(trajectories, &examples), stats)
        })
    });
    let examples_batch = examples_batch.map_err(|e| table_error("", e))?;
    let d = PyDict::new(py);
    d.set_item("examples", PyTable::try_new(vec![examples_batch], table::examples_schema())?)?;
    let s = PyDict::new(py);
    s.set_item("browses", stats.browses)?;
    s.set_item("examples", stats.examples)?;
    s.set_item("accepted", stats.accepted)?;
    s.set_item("rejected", stats.rejected)?;
    s.set_item("not_in_results", stats.not_in_results)?;
    s.set_item("unreadable", stats.unreadable)?;
    s.set_item("failed", stats.failed)?;
    s.set_item("chained", stats.chained)?;
    s.set_item("credited", stats.credited)?;
    d.set_item("stats", s)?;
    Ok(d)
}

/// Attaches document texts to examples by id: `examples` has `pos_id` and `neg_id`, `documents`
/// has `doc_id, text, text_source` (any Arrow stream: polars and pyarrow tables alike).
#[pyfunction]
pub fn attach_texts<'py>(py: Python<'py>, examples: PyTable, documents: PyTable) -> PyResult<Bound<'py, PyDict>> {
    let (examples, _) = examples.into_inner();
    let (documents, _) = documents.into_inner();
    let (texts, counts) = py
        .detach(|| DocumentTexts::from_batches(&documents)?.attach(&examples))
        .map_err(|e| table_error("cannot attach document texts", e))?;
    let d = PyDict::new(py);
    d.set_item("texts", PyTable::try_new(texts, texts_schema())?)?;
    d.set_item("missing_positives", counts.missing_positives)?;
    d.set_item("missing_negatives", counts.missing_negatives)?;
    d.set_item("positive_sources", counts.positive_sources.into_iter().collect::<std::collections::HashMap<_, _>>())?;
    d.set_item("negative_sources", counts.negative_sources.into_iter().collect::<std::collections::HashMap<_, _>>())?;
    Ok(d)
}

/// The built-in rule-based judge on a list of reasoning texts.
#[pyfunction]
pub fn judge_reasonings(texts: Vec<String>) -> Vec<bool> {
    texts.iter().map(|t| mine::judge_reasoning(t)).collect()
}
