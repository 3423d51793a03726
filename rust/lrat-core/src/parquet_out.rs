//! Writing the canonical tables as Parquet files, one row group (or more) per batch. Files are
//! written under temporary names and renamed when the writer is closed, so a reader never sees a
//! half-written table.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};
use crate::tables::{self, TableChunks};

pub const TABLE_NAMES: [&str; 5] = ["trajectories", "steps", "search_results", "browses", "errors"];

struct TableFile {
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
}

pub struct TablesWriter {
    files: Vec<TableFile>,
}

fn parquet_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Other(format!("{}: cannot write Parquet: {e}", path.display()))
}

impl TablesWriter {
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level")))
            .build();
        let schemas: [SchemaRef; 5] = [
            tables::trajectories_schema(),
            tables::steps_schema(),
            tables::search_results_schema(),
            tables::browses_schema(),
            tables::errors_schema(),
        ];
        let mut files = Vec::new();
        for (name, schema) in TABLE_NAMES.iter().zip(schemas) {
            let path = dir.join(format!("{name}.parquet"));
            let tmp = dir.join(format!(".{name}.parquet.tmp"));
            let file = File::create(&tmp).map_err(|e| Error::io(tmp.display().to_string(), e))?;
            let writer = ArrowWriter::try_new(file, schema, Some(props.clone())).map_err(|e| parquet_err(&path, e))?;
            files.push(TableFile { writer, tmp, path });
        }
        Ok(TablesWriter { files })
    }

    pub fn write(&mut self, chunks: &TableChunks) -> Result<()> {
        let parts: [&Vec<RecordBatch>; 5] =
            [&chunks.trajectories, &chunks.steps, &chunks.search_results, &chunks.browses, &chunks.errors];
        for (file, batches) in self.files.iter_mut().zip(parts) {
            for batch in batches.iter().filter(|b| b.num_rows() > 0) {
                file.writer.write(batch).map_err(|e| parquet_err(&file.path, e))?;
            }
            file.writer.flush().map_err(|e| parquet_err(&file.path, e))?;
        }
        Ok(())
    }

    /// Finishes every file and moves it to its final name. Returns the paths written.
    pub fn close(self) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        for file in self.files {
            file.writer.close().map_err(|e| parquet_err(&file.path, e))?;
            std::fs::rename(&file.tmp, &file.path).map_err(|e| Error::io(file.path.display().to_string(), e))?;
            written.push(file.path);
        }
        Ok(written)
    }
}
