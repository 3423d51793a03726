//! Finding input files and cutting them into records, streaming: JSON lines, whole JSON documents,
//! and text transcripts split at their `Question:` lines; `.gz` and `.zst` are decompressed on the fly.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Location, RecordError, Result};

/// How a file is cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One JSON document per line.
    Lines,
    /// The whole file is one JSON document (a trajectory, or a list of them).
    Document,
    /// A text transcript; each `Question:` line starts a new record.
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

const KNOWN_EXTENSIONS: &[&str] = &["json", "jsonl", "ndjson", "jsonlines", "txt", "log", "gz", "zst", "zstd"];

/// A record cut from an input, not yet parsed.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub location: Location,
    pub text: String,
    pub layout: Layout,
}

impl RawRecord {
    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// Expands files, directories (recursively, files with known extensions) and glob patterns into a
/// sorted list of files. A pattern that matches nothing is an error.
pub fn expand_inputs(inputs: &[String]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        if path.is_dir() {
            let mut found = Vec::new();
            walk_dir(path, &mut found)?;
            found.sort();
            if found.is_empty() {
                return Err(Error::NoInput(format!("{input} (a directory with no .json, .jsonl, .txt, .gz or .zst files)")));
            }
            files.extend(found);
        } else if path.exists() {
            files.push(path.to_path_buf());
        } else if input.contains(['*', '?', '[']) {
            let matches = glob::glob(input).map_err(|e| Error::InvalidOption(format!("bad glob pattern {input:?}: {e}")))?;
            let mut found: Vec<PathBuf> = matches.filter_map(|m| m.ok()).filter(|p| p.is_file()).collect();
            found.sort();
            if found.is_empty() {
                return Err(Error::NoInput(input.clone()));
            }
            files.extend(found);
        } else {
            return Err(Error::io(input.clone(), std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory")));
        }
    }
    Ok(files)
}

fn walk_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir.display().to_string(), e))?;
        let path = entry.path();
        if path.is_dir() {
            walk_dir(&path, out)?;
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| KNOWN_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())) {
            out.push(path);
        }
    }
    Ok(())
}

fn compression_and_stem(path: &Path) -> (Compression, String) {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    if let Some(stem) = name.strip_suffix(".gz") {
        (Compression::Gzip, stem.to_string())
    } else if let Some(stem) = name.strip_suffix(".zst").or_else(|| name.strip_suffix(".zstd")) {
        (Compression::Zstd, stem.to_string())
    } else {
        (Compression::None, name)
    }
}

fn layout_from_name(stem: &str) -> Option<Layout> {
    let ext = stem.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "jsonl" | "ndjson" | "jsonlines" => Some(Layout::Lines),
        "json" => Some(Layout::Document),
        "txt" | "log" | "md" => Some(Layout::Text),
        _ => None,
    }
}

/// Streams the records of many files in order. Errors that concern one record or one file are
/// yielded as items; the stream goes on with the next record or file.
pub struct RecordReader {
    files: VecDeque<PathBuf>,
    current: Option<FileRecords>,
    max_record_bytes: usize,
}

impl RecordReader {
    pub fn new(files: Vec<PathBuf>, max_record_bytes: usize) -> Self {
        RecordReader { files: files.into(), current: None, max_record_bytes }
    }
}

impl Iterator for RecordReader {
    type Item = std::result::Result<RawRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(current) = self.current.as_mut() {
                match current.next() {
                    Some(item) => return Some(item),
                    None => self.current = None,
                }
            }
            let path = self.files.pop_front()?;
            match FileRecords::open(&path, self.max_record_bytes) {
                Ok(records) => self.current = Some(records),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// The records of one file.
struct FileRecords {
    source: String,
    reader: Box<dyn BufRead + Send>,
    layout: Layout,
    max_record_bytes: usize,
    line: u64,
    offset: u64,
    /// Text layout: the `Question:` line that starts the next record, read ahead.
    pending: Option<(u64, u64, Vec<u8>)>,
    yielded_any: bool,
    done: bool,
}

impl FileRecords {
    fn open(path: &Path, max_record_bytes: usize) -> std::result::Result<Self, RecordError> {
        let source = path.display().to_string();
        let at_start = |reason: String| RecordError::new(Location { source: source.clone(), line: 0, byte_offset: 0 }, reason);
        let file = File::open(path).map_err(|e| at_start(format!("cannot open: {e}")))?;
        let (compression, stem) = compression_and_stem(path);
        let raw: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(file),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file))),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::new(file).map_err(|e| at_start(format!("cannot read zstd stream: {e}")))?,
            ),
        };
        let mut reader: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(1 << 20, raw));
        let layout = match layout_from_name(&stem) {
            Some(l) => l,
            None => {
                let head = reader.fill_buf().map_err(|e| at_start(format!("read error: {e}")))?;
                match head.iter().find(|b| !b.is_ascii_whitespace()) {
                    Some(b'[') => Layout::Document,
                    Some(b'{') => Layout::Lines,
                    _ => Layout::Text,
                }
            }
        };
        Ok(FileRecords {
            source,
            reader,
            layout,
            max_record_bytes,
            line: 0,
            offset: 0,
            pending: None,
            yielded_any: false,
            done: false,
        })
    }

    fn location(&self, line: u64, byte_offset: u64) -> Location {
        Location { source: self.source.clone(), line, byte_offset }
    }

    /// Reads one line (without its newline) into `buf`. Returns `Ok(None)` at the end of the input
    /// and `Ok(Some(false))` when the line was longer than the limit (its bytes are skipped).
    fn read_line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
        buf.clear();
        let mut any = false;
        let mut too_long = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(if any { Some(!too_long) } else { None });
            }
            any = true;
            let (chunk, found) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], Some(i)),
                None => (available, None),
            };
            if !too_long {
                if buf.len() + chunk.len() > self.max_record_bytes {
                    too_long = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            let used = found.map_or(chunk.len(), |i| i + 1);
            self.reader.consume(used);
            self.offset += used as u64;
            if found.is_some() {
                return Ok(Some(!too_long));
            }
        }
    }

    fn utf8(&self, bytes: Vec<u8>, line: u64, offset: u64) -> std::result::Result<String, RecordError> {
        String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            RecordError::new(self.location(line, offset + at as u64), format!("invalid UTF-8 at byte {at} of the record"))
        })
    }

    fn too_long(&self, line: u64, offset: u64) -> RecordError {
        RecordError::new(
            self.location(line, offset),
            format!("record longer than max_record_bytes ({} bytes); skipped", self.max_record_bytes),
        )
    }

    fn next_line_record(&mut self) -> Option<std::result::Result<RawRecord, RecordError>> {
        let mut buf = Vec::new();
        loop {
            let start = self.offset;
            let status = match self.read_line(&mut buf) {
                Ok(s) => s,
                Err(e) => {
                    self.done = true;
                    return Some(Err(RecordError::new(self.location(self.line + 1, start), format!("read error: {e}"))));
                }
            };
            let Some(fits) = status else { return None };
            self.line += 1;
            if !fits {
                return Some(Err(self.too_long(self.line, start)));
            }
            if buf.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let text = match self.utf8(std::mem::take(&mut buf), self.line, start) {
                Ok(t) => t,
                Err(e) => return Some(Err(e)),
            };
            return Some(Ok(RawRecord { location: self.location(self.line, start), text, layout: Layout::Lines }));
        }
    }

    fn next_document(&mut self) -> Option<std::result::Result<RawRecord, RecordError>> {
        self.done = true;
        let mut bytes = Vec::new();
        let limit = self.max_record_bytes as u64 + 1;
        if let Err(e) = (&mut self.reader).take(limit).read_to_end(&mut bytes) {
            return Some(Err(RecordError::new(self.location(1, 0), format!("read error: {e}"))));
        }
        if bytes.len() as u64 >= limit {
            return Some(Err(self.too_long(1, 0)));
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return None;
        }
        Some(self.utf8(bytes, 1, 0).map(|text| RawRecord { location: self.location(1, 0), text, layout: Layout::Document }))
    }

    fn next_text_block(&mut self) -> Option<std::result::Result<RawRecord, RecordError>> {
        let (mut first_line, mut first_offset, mut block) = match self.pending.take() {
            Some(p) => p,
            None => (0, self.offset, Vec::new()),
        };
        let mut line_buf = Vec::new();
        loop {
            let start = self.offset;
            let status = match self.read_line(&mut line_buf) {
                Ok(s) => s,
                Err(e) => {
                    self.done = true;
                    return Some(Err(RecordError::new(self.location(self.line + 1, start), format!("read error: {e}"))));
                }
            };
            let Some(fits) = status else { break };
            self.line += 1;
            if !fits || block.len() + line_buf.len() > self.max_record_bytes {
                // Skip the rest of this transcript: up to the next `Question:` line.
                self.pending = None;
                let err = self.too_long(if first_line == 0 { self.line } else { first_line }, first_offset);
                loop {
                    let s = self.offset;
                    match self.read_line(&mut line_buf) {
                        Ok(Some(_)) => {
                            self.line += 1;
                            if is_question_line(&line_buf) {
                                self.pending = Some((self.line, s, std::mem::take(&mut line_buf)));
                                break;
                            }
                        }
                        _ => break,
                    }
                }
                return Some(Err(err));
            }
            let starts_new = is_question_line(&line_buf) && block.iter().any(|b| !b.is_ascii_whitespace());
            if starts_new {
                self.pending = Some((self.line, start, std::mem::take(&mut line_buf)));
                break;
            }
            if first_line == 0 && !line_buf.iter().all(|b| b.is_ascii_whitespace()) {
                first_line = self.line;
                first_offset = start;
            }
            if !block.is_empty() || !line_buf.iter().all(|b| b.is_ascii_whitespace()) {
                block.extend_from_slice(&line_buf);
                block.push(b'\n');
            }
        }
        if block.iter().all(|b| b.is_ascii_whitespace()) {
            return None;
        }
        if first_line == 0 {
            first_line = 1;
        }
        Some(self.utf8(block, first_line, first_offset).map(|text| RawRecord {
            location: self.location(first_line, first_offset),
            text,
            layout: Layout::Text,
        }))
    }
}

fn is_question_line(line: &[u8]) -> bool {
    let trimmed = line.iter().position(|b| !b.is_ascii_whitespace()).map_or(&[][..], |i| &line[i..]);
    trimmed.starts_with(b"Question:") || trimmed.starts_with(b"question:")
}

impl Iterator for FileRecords {
    type Item = std::result::Result<RawRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.layout {
            Layout::Lines => self.next_line_record(),
            Layout::Document => self.next_document(),
            Layout::Text => self.next_text_block(),
        };
        match item {
            Some(item) => {
                self.yielded_any = true;
                Some(item)
            }
            None => {
                self.done = true;
                if self.yielded_any {
                    None
                } else {
                    self.yielded_any = true;
                    Some(Err(RecordError::new(self.location(0, 0), "file is empty")))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn records(path: &Path, max: usize) -> Vec<std::result::Result<RawRecord, RecordError>> {
        RecordReader::new(vec![path.to_path_buf()], max).collect()
    }

    #[test]
    fn lines_with_blank_lines_and_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, "{\"a\":1}\n\n{\"b\":2}\n").unwrap();
        let r: Vec<_> = records(&p, 1 << 20).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].location.line, r[0].location.byte_offset), (1, 0));
        assert_eq!((r[1].location.line, r[1].location.byte_offset), (3, 9));
    }

    #[test]
    fn long_line_is_skipped_and_the_next_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let long = "x".repeat(5000);
        std::fs::write(&p, format!("{{\"a\":1}}\n\"{long}\"\n{{\"c\":3}}\n")).unwrap();
        let r = records(&p, 1000);
        assert!(r[0].is_ok());
        let e = r[1].as_ref().unwrap_err();
        assert_eq!(e.location.line, 2);
        assert!(e.reason.contains("max_record_bytes"));
        assert_eq!(r[2].as_ref().unwrap().text, "{\"c\":3}");
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, b"{\"a\":1}\n{\"b\":\"\xff\"}\n").unwrap();
        let r = records(&p, 1 << 20);
        let e = r[1].as_ref().unwrap_err();
        assert_eq!(e.location.line, 2);
        assert!(e.reason.contains("invalid UTF-8"));
    }

    #[test]
    fn gzip_and_zstd() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("a.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        enc.finish().unwrap();
        assert_eq!(records(&gz, 1 << 20).len(), 2);
        let zs = dir.path().join("a.jsonl.zst");
        std::fs::write(&zs, zstd::encode_all(&b"{\"a\":1}\n"[..], 3).unwrap()).unwrap();
        assert_eq!(records(&zs, 1 << 20).len(), 1);
    }

    #[test]
    fn empty_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.jsonl");
        std::fs::write(&p, "").unwrap();
        let r = records(&p, 1 << 20);
        assert_eq!(r.len(), 1);
        assert!(r[0].as_ref().unwrap_err().reason.contains("empty"));
    }

    #[test]
    fn text_split_at_question_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.txt");
        std::fs::write(&p, "Question: a?\nThought 1: x\n\nQuestion: b?\nThought 1: y\n").unwrap();
        let r: Vec<_> = records(&p, 1 << 20).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].location.line, 4);
        assert!(r[1].text.starts_with("Question: b?"));
    }

    #[test]
    fn directories_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.json"), "{}").unwrap();
        std::fs::write(dir.path().join("a.jsonl"), "{}").unwrap();
        std::fs::write(dir.path().join("notes.csv"), "x").unwrap();
        let files = expand_inputs(&[dir.path().display().to_string()]).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("a.jsonl"));
        let pattern = format!("{}/*.json", dir.path().display());
        assert_eq!(expand_inputs(&[pattern]).unwrap().len(), 1);
        assert!(matches!(expand_inputs(&[format!("{}/*.zzz", dir.path().display())]), Err(Error::NoInput(_))));
    }
}
