//! Errors of the core: one type for a bad record (skipped and counted by batch jobs) and one for
//! failures that stop a job (I/O on the whole input, bad options).

use std::fmt;

/// Where a record came from: the file, its 1-based line (or record number) and byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub source: String,
    pub line: u64,
    pub byte_offset: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} (byte {})", self.source, self.line, self.byte_offset)
    }
}

/// A record that could not be read into a trajectory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub location: Location,
    pub reason: String,
}

impl RecordError {
    pub fn new(location: Location, reason: impl Into<String>) -> Self {
        RecordError { location, reason: reason.into() }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.reason)
    }
}

impl std::error::Error for RecordError {}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Record(#[from] RecordError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("no input matched {0}")]
    NoInput(String),
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
