//! The index file: a 128-byte header, then the usearch graph and vectors, then the string-key table.
//!
//! Header (little endian): magic `LRATIDX\0`; format version (u32); header length (u32); metric,
//! dtype and key-kind codes (u32 each); flags (u32: bit 0, cosine vectors are stored at unit length); dimension, connectivity, expansion_add,
//! expansion_search, vector count, engine offset, engine length, key-table offset and key-table length
//! (u64 each); CRC-32 of everything after the header (u32); CRC-32 of the header bytes before it (u32);
//! zero padding. The engine section starts at byte 128, so a memory-mapped view keeps vectors aligned.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::error::{IndexError, IndexResult};
use super::keys::KeyKind;
use super::{Dtype, IndexOptions, Metric};

pub const MAGIC: &[u8; 8] = b"LRATIDX\0";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 128;
const HEADER_CRC_AT: usize = 108;
const PAYLOAD_CRC_AT: usize = 104;

/// What the header says about the index it precedes.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub options: IndexOptions,
    pub key_kind: KeyKind,
    pub count: u64,
    pub engine_len: u64,
    pub keys_len: u64,
    /// The vectors were scaled to unit length before they were stored (cosine indexes written
    /// since this flag exists); the search then needs only a dot product.
    pub unit_vectors: bool,
}

const FLAG_UNIT_VECTORS: u32 = 1;

impl Header {
    fn encode(&self, payload_crc: u32) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(MAGIC);
        let u32s = [
            FORMAT_VERSION,
            HEADER_LEN as u32,
            self.options.metric.code(),
            self.options.dtype.code(),
            self.key_kind.code(),
            if self.unit_vectors { FLAG_UNIT_VECTORS } else { 0 },
        ];
        for (i, v) in u32s.iter().enumerate() {
            h[8 + 4 * i..12 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        let engine_offset = HEADER_LEN as u64;
        let u64s = [
            self.options.dim as u64,
            self.options.connectivity as u64,
            self.options.expansion_add as u64,
            self.options.expansion_search as u64,
            self.count,
            engine_offset,
            self.engine_len,
            engine_offset + self.engine_len,
            self.keys_len,
        ];
        for (i, v) in u64s.iter().enumerate() {
            h[32 + 8 * i..40 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        h[PAYLOAD_CRC_AT..PAYLOAD_CRC_AT + 4].copy_from_slice(&payload_crc.to_le_bytes());
        let header_crc = crc32fast::hash(&h[..HEADER_CRC_AT]);
        h[HEADER_CRC_AT..HEADER_CRC_AT + 4].copy_from_slice(&header_crc.to_le_bytes());
        h
    }

    /// Checks the whole file (`bytes`) and returns its header; errors name what is wrong.
    pub fn decode(path: &str, bytes: &[u8]) -> IndexResult<Header> {
        let bad = |reason: String| IndexError::File { path: path.to_string(), reason };
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("not an lrat index file (it lacks the LRATIDX signature)".into()));
        }
        if bytes.len() < HEADER_LEN {
            return Err(bad(format!(
                "truncated index file: {} bytes, shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            )));
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != FORMAT_VERSION {
            return Err(bad(format!("index format version {version}, but this lrat reads version {FORMAT_VERSION}")));
        }
        if crc32fast::hash(&bytes[..HEADER_CRC_AT]) != u32_at(HEADER_CRC_AT) {
            return Err(bad("corrupt index file: the header checksum does not match".into()));
        }
        let metric = Metric::from_code(u32_at(16)).ok_or_else(|| bad(format!("unknown metric code {}", u32_at(16))))?;
        let dtype = Dtype::from_code(u32_at(20)).ok_or_else(|| bad(format!("unknown dtype code {}", u32_at(20))))?;
        let key_kind =
            KeyKind::from_code(u32_at(24)).ok_or_else(|| bad(format!("unknown key kind code {}", u32_at(24))))?;
        let flags = u32_at(28);
        if flags & !FLAG_UNIT_VECTORS != 0 {
            return Err(bad(format!("unknown index flags {flags:#x} (written by a newer lrat?)")));
        }
        let field = |i: usize| u64_at(32 + 8 * i);
        let (engine_offset, engine_len, keys_offset, keys_len) = (field(5), field(6), field(7), field(8));
        let expected_len = keys_offset.checked_add(keys_len);
        if u32_at(12) as usize != HEADER_LEN
            || engine_offset != HEADER_LEN as u64
            || engine_offset.checked_add(engine_len) != Some(keys_offset)
            || expected_len.is_none()
        {
            return Err(bad("corrupt index file: inconsistent section offsets".into()));
        }
        let expected_len = expected_len.expect("checked above");
        if (bytes.len() as u64) < expected_len {
            return Err(bad(format!(
                "truncated index file: {} bytes, the header announces {expected_len}",
                bytes.len()
            )));
        }
        if bytes.len() as u64 > expected_len {
            return Err(bad(format!("corrupt index file: {} bytes, the header announces {expected_len}", bytes.len())));
        }
        if crc32fast::hash(&bytes[HEADER_LEN..]) != u32_at(PAYLOAD_CRC_AT) {
            return Err(bad("corrupt index file: the checksum of its contents does not match".into()));
        }
        let options = IndexOptions {
            dim: field(0) as usize,
            metric,
            dtype,
            connectivity: field(1) as usize,
            expansion_add: field(2) as usize,
            expansion_search: field(3) as usize,
        };
        options.validate().map_err(|e| bad(format!("corrupt index file: {e}")))?;
        let unit_vectors = flags & FLAG_UNIT_VECTORS != 0;
        Ok(Header { options, key_kind, count: field(4), engine_len, keys_len, unit_vectors })
    }

    pub fn engine_range(&self) -> std::ops::Range<usize> {
        HEADER_LEN..HEADER_LEN + self.engine_len as usize
    }

    pub fn keys_range(&self) -> std::ops::Range<usize> {
        let start = HEADER_LEN + self.engine_len as usize;
        start..start + self.keys_len as usize
    }
}

/// Writes header and sections to a temporary file beside `path`, flushes it to disk and renames it over
/// `path`, so readers see either the old file or the complete new one.
pub fn write_atomically(path: &str, header: &Header, engine: &[u8], keys: &[u8]) -> IndexResult<()> {
    let target = Path::new(path);
    let io = |source: std::io::Error| IndexError::Io { path: path.to_string(), source };
    let file_name = target
        .file_name()
        .ok_or_else(|| IndexError::InvalidArgument(format!("{path}: not a file path")))?
        .to_string_lossy();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let temporary = target.with_file_name(format!(".{file_name}.tmp-{}-{nanos}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(engine);
        hasher.update(keys);
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&temporary)?);
        out.write_all(&header.encode(hasher.finalize()))?;
        out.write_all(engine)?;
        out.write_all(keys)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, target)?;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(io)
}
