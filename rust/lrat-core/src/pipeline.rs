//! Streaming, parallel reading: one thread cuts the inputs into records, the pool parses each batch
//! of records in parallel (ahead of the consumer), and batches come out in input order. Memory is
//! bounded by the batch size.

use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver};
use rayon::prelude::*;

use crate::error::{Error, Location, RecordError, Result};
use crate::formats::{parse_record, FormatOptions, Parsed};
use crate::model::Trajectory;
use crate::pool::pool;
use crate::source::{expand_inputs, InputFile, Layout, RawRecord, RecordReader};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The record was skipped.
    Error,
    /// The record was kept; something in it was not understood.
    Warning,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub severity: Severity,
    pub error: RecordError,
}

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub format: FormatOptions,
    /// Records per batch.
    pub batch_size: usize,
    /// Bytes of input per batch, at most (a batch closes early when it reaches this).
    pub batch_bytes: usize,
    /// Longer records are skipped with an error, without being held in memory.
    pub max_record_bytes: usize,
    /// Stop at the first bad record instead of skipping it.
    pub strict: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: FormatOptions::default(),
            batch_size: 4096,
            batch_bytes: 16 << 20,
            max_record_bytes: 64 << 20,
            strict: false,
        }
    }
}

/// Parsed trajectories of one batch of records, with the problems met on the way.
#[derive(Debug, Default)]
pub struct Batch {
    pub trajectories: Vec<Trajectory>,
    pub issues: Vec<Issue>,
    /// Records read (good and bad).
    pub records: u64,
    /// Bytes of record text read.
    pub bytes: u64,
}

/// Running totals over a stream.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub records: u64,
    pub bytes: u64,
    pub trajectories: u64,
    pub errors: u64,
    pub warnings: u64,
}

type Chunk = Vec<std::result::Result<RawRecord, RecordError>>;

/// The largest `max_record_bytes` accepted: 1 TiB (a record is held in memory whole).
pub const MAX_RECORD_BYTES_LIMIT: usize = 1 << 40;

pub struct TrajectoryStream {
    rx: Option<Receiver<Result<Batch>>>,
    threads: Vec<JoinHandle<()>>,
    totals: Totals,
    finished: bool,
    /// Warnings about the inputs themselves (symlinks read once), handed out with the first batch.
    notices: Vec<Issue>,
}

impl TrajectoryStream {
    /// Opens the inputs (files, directories, globs). Fails at once when an input does not exist.
    ///
    /// Two threads work ahead of the consumer: one cuts records, one has the pool parse them, so
    /// that the next batch is parsed while the caller handles this one. At most three batches are
    /// in memory at once (being cut, being parsed, waiting).
    pub fn open(inputs: &[String], options: ReadOptions) -> Result<Self> {
        check(&options)?;
        let inputs = expand_inputs(inputs)?;
        if options.strict {
            if let Some(e) = inputs.unreadable.first() {
                return Err(Error::Record(e.clone()));
            }
        }
        let notices = inputs.repeated.into_iter().map(|error| Issue { severity: Severity::Warning, error }).collect();
        let files = inputs.files.into_iter().map(InputFile::at).collect();
        Self::start(files, inputs.unreadable, notices, options)
    }

    /// Reads exactly `files`, in order, with no expansion: the caller listed them (and reports what
    /// listing met). A file that cannot be opened is a bad record, as in `open`.
    pub fn open_files(files: Vec<InputFile>, options: ReadOptions) -> Result<Self> {
        check(&options)?;
        Self::start(files, Vec::new(), Vec::new(), options)
    }

    fn start(
        files: Vec<InputFile>,
        unreadable: Vec<RecordError>,
        notices: Vec<Issue>,
        options: ReadOptions,
    ) -> Result<Self> {
        let (chunk_tx, chunk_rx) = bounded::<Chunk>(1);
        let (batch_tx, batch_rx) = bounded::<Result<Batch>>(1);
        let (batch_size, batch_bytes, max_record) = (options.batch_size, options.batch_bytes, options.max_record_bytes);
        let spawn = |name: &str, work: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(work)
                .map_err(|e| Error::Other(format!("cannot start the {name} thread: {e}")))
        };
        let reader = spawn(
            "lrat-reader",
            Box::new(move || {
                let mut chunk = Vec::with_capacity(batch_size.min(65_536));
                let mut bytes = 0usize;
                // Unreadable directories count as bad records, like unreadable files.
                for item in unreadable.into_iter().map(Err).chain(RecordReader::new(files, max_record)) {
                    bytes += item.as_ref().map_or(0, |r| r.len());
                    chunk.push(item);
                    if chunk.len() >= batch_size || bytes >= batch_bytes {
                        if chunk_tx.send(std::mem::take(&mut chunk)).is_err() {
                            return;
                        }
                        bytes = 0;
                    }
                }
                if !chunk.is_empty() {
                    let _ = chunk_tx.send(chunk);
                }
            }),
        )?;
        let parser = spawn(
            "lrat-parser",
            Box::new(move || {
                for chunk in chunk_rx {
                    let batch = parse_chunk(chunk, &options);
                    let stop = batch.is_err();
                    if batch_tx.send(batch).is_err() || stop {
                        return;
                    }
                }
            }),
        )?;
        Ok(TrajectoryStream {
            rx: Some(batch_rx),
            threads: vec![reader, parser],
            totals: Totals::default(),
            finished: false,
            notices,
        })
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    fn finish(&mut self) {
        self.finished = true;
        // Dropping the receiver makes the parser's next send fail, and then the reader's.
        self.rx = None;
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for TrajectoryStream {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Iterator for TrajectoryStream {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.finished {
            return None;
        }
        let batch = match self.rx.as_ref()?.recv() {
            Ok(Ok(mut batch)) => {
                batch.issues.splice(0..0, std::mem::take(&mut self.notices));
                batch
            }
            Ok(Err(e)) => {
                self.finish();
                return Some(Err(e));
            }
            Err(_) if !self.notices.is_empty() => {
                Batch { issues: std::mem::take(&mut self.notices), ..Batch::default() }
            }
            Err(_) => {
                self.finish();
                return None;
            }
        };
        self.totals.records += batch.records;
        self.totals.bytes += batch.bytes;
        self.totals.trajectories += batch.trajectories.len() as u64;
        for issue in &batch.issues {
            match issue.severity {
                Severity::Error => self.totals.errors += 1,
                Severity::Warning => self.totals.warnings += 1,
            }
        }
        Some(Ok(batch))
    }
}

fn check(options: &ReadOptions) -> Result<()> {
    if options.batch_size == 0 {
        return Err(Error::InvalidOption("batch_size must be at least 1".into()));
    }
    if options.batch_bytes == 0 {
        return Err(Error::InvalidOption("batch_bytes must be at least 1".into()));
    }
    if options.max_record_bytes == 0 || options.max_record_bytes > MAX_RECORD_BYTES_LIMIT {
        return Err(Error::InvalidOption(format!(
            "max_record_bytes must be within 1..={MAX_RECORD_BYTES_LIMIT} (1 TiB), got {}",
            options.max_record_bytes
        )));
    }
    Ok(())
}

/// Parses one chunk of records on the pool; in strict mode the first bad record is the result.
fn parse_chunk(chunk: Chunk, options: &ReadOptions) -> Result<Batch> {
    let bytes: u64 = chunk.iter().map(|item| item.as_ref().map_or(0, |r| r.len() as u64)).sum();
    let parsed: Vec<Vec<std::result::Result<Parsed, RecordError>>> =
        pool().install(|| chunk.into_par_iter().map(|item| parse_item(item, &options.format)).collect());
    let mut batch = Batch { bytes, ..Batch::default() };
    for results in parsed {
        for result in results {
            batch.records += 1;
            match result {
                Ok(mut p) => {
                    if options.strict && !p.wrong_types.is_empty() {
                        return Err(Error::Record(p.wrong_types.swap_remove(0)));
                    }
                    if options.strict && !p.errors.is_empty() {
                        return Err(Error::Record(p.errors.swap_remove(0)));
                    }
                    batch.issues.extend(p.errors.into_iter().map(|error| Issue { severity: Severity::Error, error }));
                    let warnings = p.warnings.into_iter().chain(p.wrong_types);
                    batch.issues.extend(warnings.map(|error| Issue { severity: Severity::Warning, error }));
                    batch.trajectories.extend(p.trajectories);
                }
                Err(error) if options.strict => return Err(Error::Record(error)),
                Err(error) => batch.issues.push(Issue { severity: Severity::Error, error }),
            }
        }
    }
    Ok(batch)
}

/// Parses one raw record. A `.json` file that turns out to hold JSON lines is read line by line.
fn parse_item(
    item: std::result::Result<RawRecord, RecordError>,
    options: &FormatOptions,
) -> Vec<std::result::Result<Parsed, RecordError>> {
    let raw = match item {
        Ok(raw) => raw,
        Err(e) => return vec![Err(e)],
    };
    let first = parse_record(&raw.text, &raw.location, options);
    match first {
        Err(e)
            if raw.layout == Layout::Document
                && e.reason.contains("trailing characters")
                && raw.text.trim().contains('\n') =>
        {
            let mut out = Vec::new();
            let mut offset = raw.location.byte_offset;
            for (i, line) in raw.text.split('\n').enumerate() {
                if !line.trim().is_empty() {
                    let location =
                        Location { source: raw.location.source.clone(), line: i as u64 + 1, byte_offset: offset };
                    out.push(parse_record(line, &location, options));
                }
                offset += line.len() as u64 + 1;
            }
            out
        }
        other => vec![other],
    }
}

/// Reads every input into one batch (for inputs that fit in memory).
pub fn read_all(inputs: &[String], options: ReadOptions) -> Result<(Batch, Totals)> {
    let mut stream = TrajectoryStream::open(inputs, options)?;
    let mut all = Batch::default();
    for batch in stream.by_ref() {
        let batch = batch?;
        all.trajectories.extend(batch.trajectories);
        all.issues.extend(batch.issues);
        all.records += batch.records;
    }
    Ok((all, stream.totals()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn named_files_are_reported_and_decoded_by_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("0").join("download");
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"query_id\": \"q1\", \"status\": \"completed\", \"result\": []}\n{\"broken\": \n").unwrap();
        std::fs::write(&copy, gz.finish().unwrap()).unwrap();
        let name = "s3://bucket/logs/run.jsonl.gz".to_string();
        let files = vec![
            InputFile { path: copy, name: name.clone() },
            InputFile { path: dir.path().join("gone.jsonl"), name: "gs://b/gone.jsonl".into() },
        ];
        let batches: Vec<Batch> =
            TrajectoryStream::open_files(files, ReadOptions::default()).unwrap().map(|b| b.unwrap()).collect();
        let trajectories: Vec<&Trajectory> = batches.iter().flat_map(|b| &b.trajectories).collect();
        assert_eq!(trajectories.len(), 1);
        assert_eq!(trajectories[0].source, name);
        let issues: Vec<(&str, u64)> = batches
            .iter()
            .flat_map(|b| &b.issues)
            .map(|i| (i.error.location.source.as_str(), i.error.location.line))
            .collect();
        assert_eq!(issues, vec![(name.as_str(), 2), ("gs://b/gone.jsonl", 0)]);
    }

    #[test]
    fn open_files_checks_the_options() {
        let options = ReadOptions { batch_size: 0, ..ReadOptions::default() };
        assert!(matches!(TrajectoryStream::open_files(Vec::new(), options), Err(Error::InvalidOption(_))));
    }
}
