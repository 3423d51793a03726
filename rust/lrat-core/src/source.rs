//! Finding input files and cutting them into records, streaming: JSON lines, whole JSON documents,
//! and text transcripts split at their `Question:` lines; `.gz` and `.zst` are decompressed on the fly.

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{Mmap, MmapOptions};

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

pub const KNOWN_EXTENSIONS: &[&str] = &["json", "jsonl", "ndjson", "jsonlines", "txt", "log", "gz", "zst", "zstd"];

/// A record cut from an input, not yet parsed.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub location: Location,
    pub text: RecordText,
    pub layout: Layout,
}

/// A record's text: its own, or a slice of a memory-mapped input file (no copy).
#[derive(Debug, Clone)]
pub enum RecordText {
    Owned(String),
    /// Bytes `start..end` of the map, checked to be UTF-8 when the record was cut.
    Mapped {
        map: Arc<Mmap>,
        start: usize,
        end: usize,
    },
}

impl RecordText {
    pub fn as_str(&self) -> &str {
        match self {
            RecordText::Owned(s) => s,
            // SAFETY: `RecordText::mapped` validated these bytes as UTF-8, and the map is read-only.
            RecordText::Mapped { map, start, end } => unsafe { std::str::from_utf8_unchecked(&map[*start..*end]) },
        }
    }

    /// The bytes `start..end` of `map` when they are UTF-8; else the offset of the first bad byte.
    fn mapped(map: &Arc<Mmap>, start: usize, end: usize) -> std::result::Result<RecordText, usize> {
        check_utf8(&map[start..end]).map(|()| RecordText::Mapped { map: map.clone(), start, end })
    }
}

/// Whether `bytes` are UTF-8; else the offset of the first bad byte. The SIMD check is several
/// times faster than std's, which only runs to locate the error in a bad record.
fn check_utf8(bytes: &[u8]) -> std::result::Result<(), usize> {
    if simdutf8::basic::from_utf8(bytes).is_ok() {
        return Ok(());
    }
    Err(std::str::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), |_| bytes.len()))
}

impl Deref for RecordText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<&str> for RecordText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl RawRecord {
    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// A file to read and the name its records are reported under: its path, unless the caller fetched
/// it from elsewhere (a copy of an object in a remote store) and names it after where it came from.
/// The name also decides compression and layout, as a path's would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub name: String,
}

impl InputFile {
    /// A file named by its own path.
    pub fn at(path: PathBuf) -> Self {
        let name = path.display().to_string();
        InputFile { path, name }
    }
}

/// What the inputs expand to: the files to read, and what could not be listed or was passed over.
#[derive(Debug, Default)]
pub struct Inputs {
    pub files: Vec<PathBuf>,
    /// Directories (or entries) that could not be read: each named with the reason.
    pub unreadable: Vec<RecordError>,
    /// Symlinks leading to a directory or file already listed (a loop, or a second path to it): each
    /// read once, the link named.
    pub repeated: Vec<RecordError>,
}

fn problem(path: &Path, reason: String) -> RecordError {
    RecordError::new(Location { source: path.display().to_string(), line: 0, byte_offset: 0 }, reason)
}

/// Expands files, directories (recursively, files with known extensions) and glob patterns into a
/// list of files, each read once (by canonical path: symlink loops end, and a file reached twice is
/// listed once). A pattern that matches nothing, or an input that does not exist, is an error;
/// an unreadable directory inside the inputs is reported in `unreadable` and the rest is listed.
pub fn expand_inputs(inputs: &[String]) -> Result<Inputs> {
    let mut out = Inputs::default();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    for input in inputs {
        let path = Path::new(input);
        if path.is_dir() {
            let mut found = Vec::new();
            walk_dir(path, &mut seen, &mut found, &mut out)?;
            found.sort();
            if found.is_empty() && out.unreadable.is_empty() && out.repeated.is_empty() {
                return Err(Error::NoInput(format!(
                    "{input} (a directory with no .json, .jsonl, .txt, .gz or .zst files)"
                )));
            }
            out.files.extend(found);
        } else if path.exists() {
            add_file(path.to_path_buf(), &mut seen, &mut out.files, &mut out.repeated);
        } else if input.contains(['*', '?', '[']) {
            let matches =
                glob::glob(input).map_err(|e| Error::InvalidOption(format!("bad glob pattern {input:?}: {e}")))?;
            let mut found: Vec<PathBuf> = matches.filter_map(|m| m.ok()).filter(|p| p.is_file()).collect();
            found.sort();
            if found.is_empty() {
                return Err(Error::NoInput(input.clone()));
            }
            for file in found {
                add_file(file, &mut seen, &mut out.files, &mut out.repeated);
            }
        } else {
            return Err(Error::io(
                input.clone(),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
            ));
        }
    }
    Ok(out)
}

fn add_file(path: PathBuf, seen: &mut HashSet<PathBuf>, files: &mut Vec<PathBuf>, repeated: &mut Vec<RecordError>) {
    let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if seen.insert(canonical.clone()) {
        files.push(path);
    } else {
        repeated.push(problem(&path, format!("the same file as {} (read once)", canonical.display())));
    }
}

fn walk_dir(dir: &Path, seen: &mut HashSet<PathBuf>, files: &mut Vec<PathBuf>, out: &mut Inputs) -> Result<()> {
    let canonical = match std::fs::canonicalize(dir) {
        Ok(c) => c,
        Err(e) => {
            out.unreadable.push(problem(dir, format!("cannot resolve the directory: {e}")));
            return Ok(());
        }
    };
    if !seen.insert(canonical.clone()) {
        out.repeated.push(problem(
            dir,
            format!("a symlink back to {} (a loop, or a second path to it); read once", canonical.display()),
        ));
        return Ok(());
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            out.unreadable.push(problem(dir, format!("cannot read the directory: {e}")));
            return Ok(());
        }
    };
    // Sorted, with symlinks after the real entries: the order is reproducible, and when a file or
    // directory is reached through a link as well, the link is the one reported.
    let mut listed = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let link = entry.file_type().is_ok_and(|t| t.is_symlink());
                listed.push((link, entry.path()));
            }
            Err(e) => out.unreadable.push(problem(dir, format!("cannot list an entry: {e}"))),
        }
    }
    listed.sort();
    for (_, path) in listed {
        if path.is_dir() {
            walk_dir(&path, seen, files, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| KNOWN_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            add_file(path, seen, files, &mut out.repeated);
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
    files: VecDeque<InputFile>,
    current: Option<FileRecords>,
    max_record_bytes: usize,
}

impl RecordReader {
    pub fn new(files: Vec<InputFile>, max_record_bytes: usize) -> Self {
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
            let file = self.files.pop_front()?;
            match FileRecords::open(&file, self.max_record_bytes) {
                Ok(records) => self.current = Some(records),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Bytes of an uncompressed file mapped at a time when cutting it into lines. Each record keeps
/// its window mapped until it is dropped, so memory follows the records in flight, not the file.
const MAP_WINDOW: usize = 8 << 20;

/// One line of a mapped file: its text (`Err` with the offset of a bad byte when it is not UTF-8),
/// or `TooLong` when it exceeds the limit.
enum MappedLine {
    Text(std::result::Result<RecordText, usize>, bool),
    TooLong,
}

/// Cuts an uncompressed file into lines through windows of a read-only memory map.
struct MappedLines {
    file: File,
    len: u64,
    /// Bytes to map at a time.
    window_len: usize,
    /// The current window and the file offset it starts at.
    window: Option<(Arc<Mmap>, u64)>,
}

impl MappedLines {
    fn new(file: File, window_len: usize) -> Option<MappedLines> {
        let len = file.metadata().ok().filter(|m| m.is_file())?.len();
        Some(MappedLines { file, len, window_len, window: None })
    }

    fn map(&mut self, offset: u64, len: usize) -> std::io::Result<Arc<Mmap>> {
        // SAFETY: the map is read-only; like every reader of a file, we assume it is not truncated
        // or rewritten while it is being read.
        let map = Arc::new(unsafe { MmapOptions::new().offset(offset).len(len).populate().map(&self.file)? });
        self.window = Some((map.clone(), offset));
        Ok(map)
    }

    /// The line starting at `offset` and how many bytes it takes with its newline; `None` at the end.
    fn line(&mut self, offset: u64, max: usize) -> std::io::Result<Option<(MappedLine, u64)>> {
        if offset >= self.len {
            return Ok(None);
        }
        let remaining = self.len - offset;
        let mut remap: Option<usize> = None;
        loop {
            let (map, start) = match (&self.window, remap) {
                (Some((m, start)), None) if offset >= *start && offset < start + m.len() as u64 => (m.clone(), *start),
                _ => (self.map(offset, (remap.unwrap_or(self.window_len) as u64).min(remaining) as usize)?, offset),
            };
            let rel = (offset - start) as usize;
            let data = &map[rel..];
            let reaches_end = start + map.len() as u64 == self.len;
            let (line_len, consumed) = match memchr::memchr(b'\n', data) {
                Some(i) => (i, i as u64 + 1),
                None if reaches_end => (data.len(), data.len() as u64),
                None if data.len() > max => {
                    return Ok(Some((MappedLine::TooLong, self.skip_line(offset + data.len() as u64)? - offset)))
                }
                None => {
                    // The line runs past the window: map a window that starts with it, and grow
                    // that window while the line is longer.
                    remap = Some(if start == offset {
                        data.len().saturating_mul(2).min(max.saturating_add(1))
                    } else {
                        self.window_len
                    });
                    continue;
                }
            };
            if line_len > max {
                return Ok(Some((MappedLine::TooLong, consumed)));
            }
            let blank = data[..line_len].iter().all(|b| b.is_ascii_whitespace());
            return Ok(Some((MappedLine::Text(RecordText::mapped(&map, rel, rel + line_len), blank), consumed)));
        }
    }

    /// The offset just past the newline that ends the line running through `from` (or the end).
    fn skip_line(&mut self, from: u64) -> std::io::Result<u64> {
        self.window = None;
        let mut f = &self.file;
        f.seek(SeekFrom::Start(from))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut at = from;
        loop {
            let n = match f.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(at);
            }
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                return Ok(at + i as u64 + 1);
            }
            at += n as u64;
        }
    }
}

/// The records of one file.
struct FileRecords {
    source: String,
    reader: Box<dyn BufRead + Send>,
    /// Set for uncompressed JSON lines files, which are cut from a memory map instead of `reader`.
    mapped: Option<MappedLines>,
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
    fn open(input: &InputFile, max_record_bytes: usize) -> std::result::Result<Self, RecordError> {
        let source = input.name.clone();
        let at_start =
            |reason: String| RecordError::new(Location { source: source.clone(), line: 0, byte_offset: 0 }, reason);
        let file = File::open(&input.path).map_err(|e| at_start(format!("cannot open: {e}")))?;
        let (compression, stem) = compression_and_stem(Path::new(&input.name));
        let for_map = if compression == Compression::None { file.try_clone().ok() } else { None };
        let raw: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(file),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file))),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::new(file)
                    .map_err(|e| at_start(format!("cannot read zstd stream: {e}")))?,
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
        let mapped = if layout == Layout::Lines { for_map.and_then(|f| MappedLines::new(f, MAP_WINDOW)) } else { None };
        Ok(FileRecords {
            source,
            reader,
            mapped,
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
                if buf.len().saturating_add(chunk.len()) > self.max_record_bytes {
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

    fn utf8(&self, bytes: Vec<u8>, line: u64, offset: u64) -> std::result::Result<RecordText, RecordError> {
        match check_utf8(&bytes) {
            // SAFETY: `check_utf8` found the bytes to be UTF-8.
            Ok(()) => Ok(RecordText::Owned(unsafe { String::from_utf8_unchecked(bytes) })),
            Err(at) => Err(self.bad_utf8(line, offset, at)),
        }
    }

    fn bad_utf8(&self, line: u64, offset: u64, at: usize) -> RecordError {
        RecordError::new(self.location(line, offset + at as u64), format!("invalid UTF-8 at byte {at} of the record"))
    }

    fn too_long(&self, line: u64, offset: u64) -> RecordError {
        RecordError::new(
            self.location(line, offset),
            format!("record longer than max_record_bytes ({} bytes); skipped", self.max_record_bytes),
        )
    }

    fn next_mapped_line_record(&mut self) -> Option<std::result::Result<RawRecord, RecordError>> {
        loop {
            let start = self.offset;
            let mapped = self.mapped.as_mut().expect("called for mapped files only");
            let (line, consumed) = match mapped.line(start, self.max_record_bytes) {
                Ok(Some(found)) => found,
                Ok(None) => return None,
                Err(e) => {
                    self.done = true;
                    return Some(Err(RecordError::new(
                        self.location(self.line + 1, start),
                        format!("read error: {e}"),
                    )));
                }
            };
            self.offset += consumed;
            self.line += 1;
            let text = match line {
                MappedLine::TooLong => return Some(Err(self.too_long(self.line, start))),
                MappedLine::Text(_, true) => continue,
                MappedLine::Text(text, false) => text,
            };
            return Some(match text {
                Ok(text) => Ok(RawRecord { location: self.location(self.line, start), text, layout: Layout::Lines }),
                Err(at) => Err(self.bad_utf8(self.line, start, at)),
            });
        }
    }

    fn next_line_record(&mut self) -> Option<std::result::Result<RawRecord, RecordError>> {
        if self.mapped.is_some() {
            return self.next_mapped_line_record();
        }
        let mut buf = Vec::new();
        loop {
            let start = self.offset;
            let status = match self.read_line(&mut buf) {
                Ok(s) => s,
                Err(e) => {
                    self.done = true;
                    return Some(Err(RecordError::new(
                        self.location(self.line + 1, start),
                        format!("read error: {e}"),
                    )));
                }
            };
            let fits = status?;
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
        let limit = (self.max_record_bytes as u64).saturating_add(1);
        if let Err(e) = (&mut self.reader).take(limit).read_to_end(&mut bytes) {
            return Some(Err(RecordError::new(self.location(1, 0), format!("read error: {e}"))));
        }
        if bytes.len() as u64 >= limit {
            if starts_with_a_json_line(&bytes) {
                // Too long for one document, but it is JSON lines: read it line by line.
                let rest = std::mem::replace(&mut self.reader, Box::new(std::io::empty()));
                self.reader = Box::new(BufReader::with_capacity(1 << 20, std::io::Cursor::new(bytes).chain(rest)));
                self.layout = Layout::Lines;
                self.done = false;
                return self.next_line_record();
            }
            return Some(Err(self.too_long(1, 0)));
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return None;
        }
        Some(self.utf8(bytes, 1, 0).map(|text| RawRecord {
            location: self.location(1, 0),
            text,
            layout: Layout::Document,
        }))
    }

    fn next_text_block(&mut self) -> Option<std::result::Result<RawRecord, RecordError>> {
        let (mut first_line, mut first_offset, mut block) = match self.pending.take() {
            // The `Question:` line read ahead, with the line break `read_line` took off.
            Some((line, offset, mut text)) => {
                text.push(b'\n');
                (line, offset, text)
            }
            None => (0, self.offset, Vec::new()),
        };
        let mut line_buf = Vec::new();
        loop {
            let start = self.offset;
            let status = match self.read_line(&mut line_buf) {
                Ok(s) => s,
                Err(e) => {
                    self.done = true;
                    return Some(Err(RecordError::new(
                        self.location(self.line + 1, start),
                        format!("read error: {e}"),
                    )));
                }
            };
            let Some(fits) = status else { break };
            self.line += 1;
            if !fits || block.len().saturating_add(line_buf.len()) > self.max_record_bytes {
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
        // Blank, or only a run log's frame (Reflexion's trial headers before the first question).
        let only_frame = std::str::from_utf8(&block)
            .is_ok_and(|t| t.lines().all(|l| l.trim().is_empty() || crate::formats::react::is_frame(l)));
        if only_frame {
            return if self.pending.is_some() { self.next_text_block() } else { None };
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

/// Whether the text's first line is a whole JSON object or list, with more text after it.
fn starts_with_a_json_line(bytes: &[u8]) -> bool {
    let Some(end) = memchr::memchr(b'\n', bytes) else { return false };
    let Ok(first) = std::str::from_utf8(&bytes[..end]) else { return false };
    let first = first.trim_start_matches('\u{feff}').trim();
    (first.starts_with('{') || first.starts_with('[')) && crate::json::Json::parse(first).is_ok()
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
        RecordReader::new(vec![InputFile::at(path.to_path_buf())], max).collect()
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

    /// Lines cut from small map windows: lines that cross a window, a line too long for the
    /// limit, a blank line, bad UTF-8, and a last line without a newline.
    #[test]
    fn mapped_lines_across_windows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let long = "x".repeat(40);
        let lines = [
            "{\"a\":1}",
            "{\"b\":\"0123456789\"}",
            "",
            long.as_str(),
            "{\"c\":\"\u{e9}\"}",
            "\u{e9}\u{ff}",
            "{\"d\":4}",
        ];
        std::fs::write(&p, lines.join("\n")).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        let bad = bytes.len() - 9 - 1;
        bytes[bad] = 0xff;
        std::fs::write(&p, &bytes).unwrap();
        for window in [1, 7, 16, 1 << 20] {
            let mut m = MappedLines::new(File::open(&p).unwrap(), window).unwrap();
            let (mut offset, mut got) = (0u64, Vec::new());
            while let Some((line, consumed)) = m.line(offset, 30).unwrap() {
                got.push(match line {
                    MappedLine::TooLong => "too long".to_string(),
                    MappedLine::Text(_, true) => "blank".to_string(),
                    MappedLine::Text(Ok(t), false) => t.as_str().to_string(),
                    MappedLine::Text(Err(at), false) => format!("bad at {at}"),
                });
                offset += consumed;
            }
            assert_eq!(offset, bytes.len() as u64);
            assert_eq!(
                got,
                [
                    "{\"a\":1}",
                    "{\"b\":\"0123456789\"}",
                    "blank",
                    "too long",
                    "{\"c\":\"\u{e9}\"}",
                    "bad at 2",
                    "{\"d\":4}"
                ],
                "window {window}"
            );
        }
    }

    #[test]
    fn big_json_file_of_json_lines_is_read_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("runs.json");
        std::fs::write(&p, "{\"a\":1}\n{\"b\":2}\n\n{\"c\":3}\n").unwrap();
        let r: Vec<_> = records(&p, 12).into_iter().map(|r| r.unwrap()).collect();
        let got: Vec<_> =
            r.iter().map(|r| (r.text.as_str(), r.location.line, r.location.byte_offset, r.layout)).collect();
        assert_eq!(
            got,
            [
                ("{\"a\":1}", 1, 0, Layout::Lines),
                ("{\"b\":2}", 2, 8, Layout::Lines),
                ("{\"c\":3}", 4, 17, Layout::Lines)
            ]
        );
        // One document over the limit is still an error.
        std::fs::write(&p, "{\n\"a\": [1, 2, 3, 4, 5, 6]\n}\n").unwrap();
        let r = records(&p, 12);
        assert_eq!(r.len(), 1);
        assert!(r[0].as_ref().unwrap_err().reason.contains("max_record_bytes"));
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
    fn invalid_utf8_is_located_alike_in_mapped_and_decompressed_input() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"{\"a\":1}\n{\"b\":\"\xff\"}\n{\"c\":3}\n";
        let plain = dir.path().join("a.jsonl");
        std::fs::write(&plain, text).unwrap();
        let gz = dir.path().join("a.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(text).unwrap();
        enc.finish().unwrap();
        for p in [&plain, &gz] {
            let r = records(p, 1 << 20);
            assert_eq!(r.len(), 3, "{p:?}");
            let e = r[1].as_ref().unwrap_err();
            assert_eq!((e.location.line, e.location.byte_offset), (2, 14), "{p:?}");
            assert!(e.reason.contains("invalid UTF-8 at byte 6 of the record"), "{p:?}: {}", e.reason);
            assert_eq!(r[2].as_ref().unwrap().text.as_str(), "{\"c\":3}", "{p:?}");
        }
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
        assert!(r[1].text.starts_with("Question: b?\nThought 1: y"), "{:?}", r[1].text);
    }

    #[test]
    fn directories_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.json"), "{}").unwrap();
        std::fs::write(dir.path().join("a.jsonl"), "{}").unwrap();
        std::fs::write(dir.path().join("notes.csv"), "x").unwrap();
        let files = expand_inputs(&[dir.path().display().to_string()]).unwrap().files;
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("a.jsonl"));
        let pattern = format!("{}/*.json", dir.path().display());
        assert_eq!(expand_inputs(&[pattern]).unwrap().files.len(), 1);
        assert!(matches!(expand_inputs(&[format!("{}/*.zzz", dir.path().display())]), Err(Error::NoInput(_))));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_and_second_paths_are_read_once_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("a.jsonl"), "{}").unwrap();
        std::os::unix::fs::symlink(dir.path(), sub.join("back")).unwrap(); // a loop
        std::os::unix::fs::symlink(sub.join("a.jsonl"), dir.path().join("again.jsonl")).unwrap();
        let root = dir.path().display().to_string();
        let inputs = expand_inputs(&[root.clone(), format!("{root}/sub/a.jsonl")]).unwrap();
        assert_eq!(inputs.files.len(), 1, "{:?}", inputs.files);
        let named: Vec<String> = inputs.repeated.iter().map(|e| e.location.source.clone()).collect();
        assert_eq!(inputs.repeated.len(), 3, "{named:?}");
        assert!(named.iter().any(|n| n.ends_with("sub/back")));
        assert!(named.iter().any(|n| n.ends_with("again.jsonl")));
        assert!(inputs.repeated.iter().any(|e| e.reason.contains("a loop")));
        assert!(inputs.unreadable.is_empty());
    }

    #[test]
    fn the_largest_record_limit_does_not_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "{\"a\": 1}\n{\"b\": 2}").unwrap();
        assert_eq!(records(&path, usize::MAX).iter().filter(|r| r.is_ok()).count(), 2);
        let doc = dir.path().join("d.json");
        std::fs::write(&doc, "[{\"a\": 1}]").unwrap();
        assert_eq!(records(&doc, usize::MAX).iter().filter(|r| r.is_ok()).count(), 1);
    }
}
