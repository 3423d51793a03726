//! What can go wrong with a vector index, in terms a caller can act on.

use std::fmt;

#[derive(Debug)]
pub enum IndexError {
    /// A bad argument: an unknown metric, `k = 0`, a wrong dimension, an empty index, a read-only view.
    InvalidArgument(String),
    /// A vector holding NaN or an infinite value; `row` is its 0-based position in the batch.
    NonFinite {
        row: usize,
        column: usize,
    },
    /// Keys of the wrong kind: strings added to an integer-keyed index, a negative integer.
    KeyType(String),
    /// A key already in the index.
    DuplicateKey(String),
    /// A key that appears twice in one batch.
    RepeatedKey(String),
    /// A key that is not in the index.
    MissingKey(String),
    /// A file that is not an lrat index, was truncated, or does not match its checksum.
    File {
        path: String,
        reason: String,
    },
    Io {
        path: String,
        source: std::io::Error,
    },
    /// An error reported by the usearch engine (out of memory, mostly).
    Engine(String),
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexError::InvalidArgument(msg) => write!(f, "{msg}"),
            IndexError::NonFinite { row, column } => {
                write!(f, "vector {row} holds a NaN or infinite value (at column {column})")
            }
            IndexError::KeyType(msg) => write!(f, "{msg}"),
            IndexError::DuplicateKey(key) => write!(f, "key {key} is already in the index"),
            IndexError::RepeatedKey(key) => write!(f, "key {key} appears more than once in the batch"),
            IndexError::MissingKey(key) => write!(f, "key {key} is not in the index"),
            IndexError::File { path, reason } => write!(f, "{path}: {reason}"),
            IndexError::Io { path, source } => write!(f, "{path}: {source}"),
            IndexError::Engine(msg) => write!(f, "usearch: {msg}"),
        }
    }
}

impl std::error::Error for IndexError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IndexError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl IndexError {
    /// Wraps an exception raised by the usearch engine.
    pub(crate) fn engine(e: impl fmt::Display) -> Self {
        IndexError::Engine(e.to_string())
    }
}

pub type IndexResult<T> = std::result::Result<T, IndexError>;
