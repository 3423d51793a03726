//! Every Rust error becomes a Python exception here, and nowhere else.

use lrat_core::index::IndexError;
use lrat_core::{Error, RecordError};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyKeyError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;

create_exception!(lrat, LratError, PyException, "Base class of lrat's errors.");
create_exception!(
    lrat,
    TrajectoryParseError,
    LratError,
    "A trajectory record could not be read. Attributes: source, line, byte_offset, reason."
);

create_exception!(lrat, IndexFileError, LratError, "A file is not an lrat index, is truncated, or fails its checksum.");

pub fn record_error(py: Python<'_>, e: &RecordError) -> PyErr {
    let err = TrajectoryParseError::new_err(e.to_string());
    let value = err.value(py);
    let _ = value.setattr("source", e.location.source.clone());
    let _ = value.setattr("line", e.location.line);
    let _ = value.setattr("byte_offset", e.location.byte_offset);
    let _ = value.setattr("reason", e.reason.clone());
    err
}

pub fn to_py(py: Python<'_>, e: Error) -> PyErr {
    match e {
        Error::Record(r) => record_error(py, &r),
        Error::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(format!("{path}: {source}"))
        }
        Error::Io { path, source } => PyOSError::new_err(format!("{path}: {source}")),
        Error::NoInput(pattern) => PyFileNotFoundError::new_err(format!("no input matched {pattern}")),
        Error::InvalidOption(msg) => PyValueError::new_err(msg),
        Error::Other(msg) => LratError::new_err(msg),
    }
}

/// A bad argument value from Python, worded by the caller or by the parser that refused it.
pub fn invalid_argument(message: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(message.to_string())
}

/// An argument of the wrong Python type.
pub fn wrong_type(message: impl std::fmt::Display) -> PyErr {
    PyTypeError::new_err(message.to_string())
}

/// Arrow could not build or read a table (a table passed in lacks a column or has the wrong types).
pub fn table_error(context: &str, e: impl std::fmt::Display) -> PyErr {
    if context.is_empty() {
        PyValueError::new_err(e.to_string())
    } else {
        PyValueError::new_err(format!("{context}: {e}"))
    }
}

pub fn index_error(e: IndexError) -> PyErr {
    let message = e.to_string();
    match e {
        IndexError::InvalidArgument(_)
        | IndexError::NonFinite { .. }
        | IndexError::DuplicateKey(_)
        | IndexError::RepeatedKey(_) => PyValueError::new_err(message),
        IndexError::KeyType(_) => PyTypeError::new_err(message),
        IndexError::MissingKey(_) => PyKeyError::new_err(message),
        IndexError::File { .. } => IndexFileError::new_err(message),
        IndexError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(message)
        }
        IndexError::Io { .. } => PyOSError::new_err(message),
        IndexError::Engine(_) => LratError::new_err(message),
    }
}
