//! `lrat.Index`: the Python face of `lrat_core::index::Index`. Reads C-contiguous float32 arrays in
//! place, converts other float arrays once, and runs every search and insertion with the GIL released.

use std::path::PathBuf;

use lrat_core::index::{self as core, Dtype, IndexOptions, KeyKind, Keys, Metric, ResultKeys};
use numpy::{PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::errors::{index_error, invalid_argument, wrong_type};

/// Approximate nearest-neighbour search (HNSW) over float vectors keyed by strings or integers.
#[pyclass(module = "lrat._core", frozen)]
pub struct Index {
    inner: core::Index,
}

/// A float32 matrix borrowed from, or converted out of, a Python object.
struct Matrix<'py> {
    array: Bound<'py, PyArrayDyn<f32>>,
    cols: usize,
    one_dimensional: bool,
}

impl<'py> Matrix<'py> {
    fn extract(what: &str, object: &Bound<'py, PyAny>) -> PyResult<Self> {
        let py = object.py();
        let array = match object.cast::<PyUntypedArray>() {
            Ok(array) => array.clone(),
            Err(_) => {
                let numpy = py.import("numpy")?;
                let converted = numpy
                    .call_method1("asarray", (object,))
                    .map_err(|_| wrong_type(format!("{what} must be a float array; got {}", type_name(object))))?;
                converted
                    .cast_into::<PyUntypedArray>()
                    .map_err(|_| wrong_type(format!("{what} must be a float array; got {}", type_name(object))))?
            }
        };
        let dtype = array.dtype();
        if dtype.kind() != b'f' {
            return Err(wrong_type(format!(
                "{what} must be a float array (float32, or float16/float64 converted); got dtype {}",
                dtype
            )));
        }
        let ndim = array.ndim();
        if ndim != 1 && ndim != 2 {
            return Err(invalid_argument(format!(
                "{what} must be a 2-D array (one row per vector) or a single 1-D vector; got {ndim} dimensions"
            )));
        }
        let array: Bound<'py, PyArrayDyn<f32>> = match array.cast::<PyArrayDyn<f32>>() {
            Ok(array) => array.clone(),
            Err(_) => array.call_method1("astype", ("float32",))?.cast_into::<PyArrayDyn<f32>>()?,
        };
        let shape = array.shape().to_vec();
        let cols = if ndim == 1 { shape[0] } else { shape[1] };
        Ok(Matrix { array, cols, one_dimensional: ndim == 1 })
    }

    /// The values row-major: borrowed when the array is C-contiguous, else copied once.
    fn values(&self) -> PyResult<(numpy::PyReadonlyArrayDyn<'py, f32>, Option<Vec<f32>>)> {
        let readonly = self.array.try_readonly().map_err(invalid_argument)?;
        // `as_slice` also accepts Fortran order, whose memory order is not row-major.
        let copy = if self.array.is_c_contiguous() && readonly.as_slice().is_ok() {
            None
        } else {
            Some(readonly.as_array().iter().copied().collect())
        };
        Ok((readonly, copy))
    }
}

fn type_name(object: &Bound<'_, PyAny>) -> String {
    object.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an unknown type".into())
}

/// Keys from a str, an int, a sequence of either, or a numpy array of either.
fn extract_keys(object: &Bound<'_, PyAny>, allow_scalar: bool) -> PyResult<Keys> {
    if allow_scalar {
        if let Ok(s) = object.cast::<PyString>() {
            return Ok(Keys::Str(vec![s.to_str()?.to_owned()]));
        }
        if let Ok(i) = object.extract::<i64>() {
            return Ok(Keys::Int(vec![i]));
        }
    }
    if let Ok(array) = object.cast::<PyUntypedArray>() {
        match array.dtype().kind() {
            b'i' | b'u' => {
                let converted = array.call_method1("astype", ("int64",))?;
                let converted = converted.cast::<PyArrayDyn<i64>>()?.readonly();
                return Ok(Keys::Int(converted.as_array().iter().copied().collect()));
            }
            b'U' | b'O' | b'S' => return extract_keys(&array.call_method0("tolist")?, false),
            _ => {
                return Err(wrong_type(format!(
                    "keys must be strings or non-negative integers; got an array of dtype {}",
                    array.dtype()
                )))
            }
        }
    }
    if object.is_instance_of::<PyString>() {
        return Err(wrong_type("keys must be a sequence of keys, not a single string"));
    }
    if let Ok(strings) = object.extract::<Vec<String>>() {
        return Ok(Keys::Str(strings));
    }
    if let Ok(ints) = object.extract::<Vec<i64>>() {
        return Ok(Keys::Int(ints));
    }
    Err(wrong_type(format!("keys must be a sequence of all strings or all integers; got {}", type_name(object))))
}

fn path_string(path: PathBuf) -> String {
    path.to_string_lossy().into_owned()
}

#[pymethods]
impl Index {
    #[new]
    #[pyo3(signature = (dim, metric = "cos", dtype = "f32", connectivity = 16, expansion_add = 128, expansion_search = 64))]
    fn new(
        dim: usize,
        metric: &str,
        dtype: &str,
        connectivity: usize,
        expansion_add: usize,
        expansion_search: usize,
    ) -> PyResult<Self> {
        let options = IndexOptions {
            dim,
            metric: Metric::parse(metric).map_err(index_error)?,
            dtype: Dtype::parse(dtype).map_err(index_error)?,
            connectivity,
            expansion_add,
            expansion_search,
        };
        Ok(Index { inner: core::Index::new(options).map_err(index_error)? })
    }

    /// Adds vectors under keys (strings or non-negative integers, one kind per index).
    fn add(&self, py: Python<'_>, keys: &Bound<'_, PyAny>, vectors: &Bound<'_, PyAny>) -> PyResult<()> {
        let keys = extract_keys(keys, false)?;
        let matrix = Matrix::extract("vectors", vectors)?;
        if matrix.one_dimensional && keys.len() != 1 {
            return Err(invalid_argument(format!("got a single 1-D vector for {} keys; pass a 2-D array", keys.len())));
        }
        let (readonly, copy) = matrix.values()?;
        let values: &[f32] = match &copy {
            Some(copy) => copy,
            None => readonly.as_slice().map_err(invalid_argument)?,
        };
        let cols = matrix.cols;
        let inner = &self.inner;
        py.detach(|| inner.add(&keys, values, cols)).map_err(index_error)
    }

    /// Returns `(keys, distances)`, each of shape `(len(queries), k)` (or `(k,)` for a 1-D query).
    #[pyo3(signature = (queries, k = 10, *, exact = false, allowed = None, threads = None))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: usize,
        exact: bool,
        allowed: Option<&Bound<'py, PyAny>>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let matrix = Matrix::extract("queries", queries)?;
        let allowed = allowed.map(|a| extract_keys(a, false)).transpose()?;
        let (readonly, copy) = matrix.values()?;
        let values: &[f32] = match &copy {
            Some(copy) => copy,
            None => readonly.as_slice().map_err(invalid_argument)?,
        };
        let cols = matrix.cols;
        let inner = &self.inner;
        let results =
            py.detach(|| inner.search(values, cols, k, exact, allowed.as_ref(), threads)).map_err(index_error)?;
        let shape: Vec<usize> = if matrix.one_dimensional { vec![k] } else { vec![results.rows, k] };
        let keys = match results.keys {
            ResultKeys::Int(keys) => PyArray1::from_vec(py, keys).reshape(shape.clone())?.into_any(),
            ResultKeys::Str(keys) => {
                let objects: Vec<Py<PyAny>> = keys
                    .iter()
                    .map(|key| match key {
                        Some(key) => PyString::new(py, key).into_any().unbind(),
                        None => py.None(),
                    })
                    .collect();
                PyArray1::from_vec(py, objects).reshape(shape.clone())?.into_any()
            }
        };
        let distances = PyArray1::from_vec(py, results.distances).reshape(shape)?.into_any();
        PyTuple::new(py, [keys, distances])
    }

    /// Removes keys (one key or a sequence); all must be present. Returns the number removed.
    fn remove(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<usize> {
        let keys = extract_keys(keys, true)?;
        let inner = &self.inner;
        py.detach(|| inner.remove(&keys)).map_err(index_error)
    }

    /// Whether each of `keys` is in the index, as a boolean array.
    fn contains<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let keys = extract_keys(keys, false)?;
        let present = self.inner.contains(&keys).map_err(index_error)?;
        Ok(PyArray1::from_vec(py, present))
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let keys = match extract_keys(key, true) {
            Ok(keys) if keys.len() == 1 => keys,
            _ => return Ok(false),
        };
        Ok(self.inner.contains(&keys).map_err(index_error)?[0])
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Writes the index to `path` atomically (a temporary file beside it, then a rename).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let path = path_string(path);
        let inner = &self.inner;
        py.detach(|| inner.save(&path)).map_err(index_error)
    }

    /// Reads an index saved with `save` into memory.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let path = path_string(path);
        let inner = py.detach(|| core::Index::load(&path)).map_err(index_error)?;
        Ok(Index { inner })
    }

    /// Memory-maps an index saved with `save`, read-only.
    #[staticmethod]
    fn view(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let path = path_string(path);
        let inner = py.detach(|| core::Index::view(&path)).map_err(index_error)?;
        Ok(Index { inner })
    }

    #[getter]
    fn dim(&self) -> usize {
        self.inner.options().dim
    }

    #[getter]
    fn metric(&self) -> &'static str {
        self.inner.options().metric.name()
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.options().dtype.name()
    }

    #[getter]
    fn connectivity(&self) -> usize {
        self.inner.options().connectivity
    }

    #[getter]
    fn expansion_add(&self) -> usize {
        self.inner.options().expansion_add
    }

    #[getter]
    fn expansion_search(&self) -> usize {
        self.inner.expansion_search()
    }

    #[setter]
    fn set_expansion_search(&self, expansion: usize) -> PyResult<()> {
        self.inner.set_expansion_search(expansion).map_err(index_error)
    }

    /// "str", "int", or None while the index has never held a key.
    #[getter]
    fn key_kind(&self) -> Option<&'static str> {
        match self.inner.key_kind() {
            KeyKind::Unset => None,
            KeyKind::Int => Some("int"),
            KeyKind::Str => Some("str"),
        }
    }

    #[getter]
    fn is_view(&self) -> bool {
        self.inner.is_view()
    }

    /// Bytes held by the graph and the stored vectors.
    #[getter]
    fn memory_usage(&self) -> usize {
        self.inner.memory_usage()
    }

    fn __repr__(&self) -> String {
        let o = self.inner.options();
        let view = if self.inner.is_view() { ", view" } else { "" };
        format!(
            "Index(dim={}, metric={:?}, dtype={:?}, len={}{view})",
            o.dim,
            o.metric.name(),
            o.dtype.name(),
            self.inner.len()
        )
    }
}
