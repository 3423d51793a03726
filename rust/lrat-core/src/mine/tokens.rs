//! Counting the tokens of post-browse reasoning: with a real tokenizer (`tokenizer.json`) or, when
//! asked, whitespace-separated words.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};
use crate::mine::wordpiece::BertWordPiece;

#[derive(Clone)]
pub enum TokenCounter {
    Whitespace,
    Tokenizer {
        tokenizer: Arc<FullTokenizer>,
        /// The exact fast path, for BERT WordPiece tokenizers; with it, the full tokenizer is not
        /// loaded unless asked for.
        wordpiece: Option<Arc<BertWordPiece>>,
    },
}

/// A `tokenizers` tokenizer, loaded from its `tokenizer.json` when first needed.
pub struct FullTokenizer {
    file: PathBuf,
    json: Box<[u8]>,
    loaded: OnceLock<std::result::Result<tokenizers::Tokenizer, String>>,
}

impl FullTokenizer {
    fn get(&self) -> Result<&tokenizers::Tokenizer> {
        let loaded = self.loaded.get_or_init(|| {
            let mut tokenizer = tokenizers::Tokenizer::from_bytes(&self.json).map_err(|e| e.to_string())?;
            tokenizer.with_truncation(None).map_err(|e| e.to_string())?;
            tokenizer.with_padding(None);
            Ok(tokenizer)
        });
        loaded.as_ref().map_err(|e| Error::InvalidOption(format!("cannot load tokenizer {}: {e}", self.file.display())))
    }

    fn count(&self, text: &str) -> u32 {
        match self.get() {
            Ok(tokenizer) => full_count(tokenizer, text),
            Err(_) => text.split_whitespace().count() as u32,
        }
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
    /// Reads a `tokenizer.json` (or the one inside a model directory). A BERT WordPiece
    /// tokenizer is counted by the fast path, from the parts of the file it reads; any other is
    /// loaded by `tokenizers` at once, so that a file it cannot load fails here.
    pub fn from_file(path: &Path) -> Result<Self> {
        let file = if path.is_dir() { path.join("tokenizer.json") } else { path.to_path_buf() };
        let bytes = std::fs::read(&file)
            .map_err(|e| Error::InvalidOption(format!("cannot load tokenizer {}: {e}", file.display())))?;
        let wordpiece = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| crate::json::Json::parse(text).ok())
            .and_then(|json| BertWordPiece::from_json(&json))
            .map(Arc::new);
        let tokenizer = Arc::new(FullTokenizer { file, json: bytes.into(), loaded: OnceLock::new() });
        if wordpiece.is_none() {
            tokenizer.get()?;
        }
        Ok(TokenCounter::Tokenizer { tokenizer, wordpiece })
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
            TokenCounter::Tokenizer { wordpiece: Some(fast), .. } => fast.count(text),
            TokenCounter::Tokenizer { tokenizer, wordpiece: None } => tokenizer.count(text),
        }
    }

    /// The count without the fast path, by the full tokenizer (for tests and benchmarks); an
    /// error if it cannot be loaded.
    pub fn count_without_fast_path(&self, text: &str) -> Result<u32> {
        match self {
            TokenCounter::Tokenizer { tokenizer, .. } if !text.trim().is_empty() => {
                Ok(full_count(tokenizer.get()?, text))
            }
            _ => Ok(self.count(text)),
        }
    }
}

fn full_count(tokenizer: &tokenizers::Tokenizer, text: &str) -> u32 {
    tokenizer
        .encode_fast(text, false)
        .map(|e| e.len() as u32)
        .unwrap_or_else(|_| text.split_whitespace().count() as u32)
}
