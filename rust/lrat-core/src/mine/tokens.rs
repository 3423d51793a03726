//! Counting the tokens of post-browse reasoning: with a real tokenizer (`tokenizer.json`) or, when
//! asked, whitespace-separated words.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::mine::wordpiece::{BertWordPiece, Count};

#[derive(Clone)]
pub enum TokenCounter {
    Whitespace,
    Tokenizer {
        tokenizer: Arc<tokenizers::Tokenizer>,
        /// The exact fast path, for BERT WordPiece tokenizers.
        wordpiece: Option<Arc<BertWordPiece>>,
        /// Counts of the chunks the fast path hands to the full tokenizer: the same names and
        /// words with accents recur across a log.
        chunk_counts: Arc<ChunkCounts>,
    },
}

/// A bounded memo of chunk → token count, shared by the threads that count.
#[derive(Default)]
pub struct ChunkCounts(Mutex<FxHashMap<Box<str>, u32>>);

/// Chunks beyond this many are counted without being remembered.
const MAX_REMEMBERED_CHUNKS: usize = 1 << 16;

impl ChunkCounts {
    fn count(&self, tokenizer: &tokenizers::Tokenizer, chunk: &str) -> u32 {
        let lock = || self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(&n) = lock().get(chunk) {
            return n;
        }
        let n = full_count(tokenizer, chunk);
        let mut memo = lock();
        if memo.len() < MAX_REMEMBERED_CHUNKS {
            memo.insert(chunk.into(), n);
        }
        n
    }
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenCounter::Whitespace => f.write_str("TokenCounter::Whitespace"),
            TokenCounter::Tokenizer { wordpiece, .. } => {
                write!(f, "TokenCounter::Tokenizer {{ fast WordPiece: {} }}", wordpiece.is_some())
            }
        }
    }
}

impl TokenCounter {
    /// Loads a `tokenizer.json` (or the one inside a model directory), without truncation.
    pub fn from_file(path: &Path) -> Result<Self> {
        let file = if path.is_dir() { path.join("tokenizer.json") } else { path.to_path_buf() };
        let cannot_load = |e: &dyn std::fmt::Display| Error::InvalidOption(format!("cannot load tokenizer {}: {e}", file.display()));
        let bytes = std::fs::read(&file).map_err(|e| cannot_load(&e))?;
        let mut tokenizer = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| cannot_load(&e))?;
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::InvalidOption(format!("{}: {e}", file.display())))?;
        tokenizer.with_padding(None);
        let wordpiece = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| crate::json::Json::parse(text).ok())
            .and_then(|json| BertWordPiece::from_json(&json))
            .map(Arc::new);
        Ok(TokenCounter::Tokenizer { tokenizer: Arc::new(tokenizer), wordpiece, chunk_counts: Arc::default() })
    }

    /// Whether counts take the fast WordPiece path (they are the same either way).
    pub fn has_fast_path(&self) -> bool {
        matches!(self, TokenCounter::Tokenizer { wordpiece: Some(_), .. })
    }

    pub fn count(&self, text: &str) -> u32 {
        if text.trim().is_empty() {
            return 0;
        }
        match self {
            TokenCounter::Whitespace => text.split_whitespace().count() as u32,
            TokenCounter::Tokenizer { tokenizer, wordpiece: None, .. } => full_count(tokenizer, text),
            TokenCounter::Tokenizer { tokenizer, wordpiece: Some(fast), chunk_counts } => match fast.count(text) {
                Count::Exact(n) => n,
                Count::Partial(n, chunks) => {
                    // Chunks are cut at ASCII whitespace, so each range is on char boundaries.
                    n + chunks.into_iter().map(|range| chunk_counts.count(tokenizer, &text[range])).sum::<u32>()
                }
                Count::WholeText => full_count(tokenizer, text),
            },
        }
    }

    /// The count without the fast path (for tests and benchmarks).
    pub fn count_without_fast_path(&self, text: &str) -> u32 {
        match self {
            TokenCounter::Tokenizer { tokenizer, .. } if !text.trim().is_empty() => full_count(tokenizer, text),
            _ => self.count(text),
        }
    }
}

fn full_count(tokenizer: &tokenizers::Tokenizer, text: &str) -> u32 {
    tokenizer
        .encode_fast(text, false)
        .map(|e| e.len() as u32)
        .unwrap_or_else(|_| text.split_whitespace().count() as u32)
}
