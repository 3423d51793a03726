//! The core of `lrat`: reading agent trajectories in many formats into one canonical model,
//! mining retrieval supervision from them, and HNSW search. No Python types live here.

pub mod arena;
pub mod background_drop;
pub mod error;
pub mod formats;
pub mod index;
pub mod json;
pub mod mine;
pub mod model;
pub mod pool;
pub mod tools;

pub use error::{Error, Location, RecordError, Result};
pub use formats::{parse_record, FormatOptions, UnknownTools};
pub use model::{BrowseRecord, Format, Outcome, SearchHit, SharedText, Step, StepKind, Trajectory};
pub use tools::{ToolKind, ToolNames};
pub mod parquet_out;
pub mod pipeline;
pub mod source;
pub mod tables;

pub use pipeline::{read_all, Batch, Issue, ReadOptions, Severity, Totals, TrajectoryStream};
