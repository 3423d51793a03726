//! Counting the tokens of post-browse reasoning: with a real tokenizer (`tokenizer.json`) or, when
//! asked, whitespace-separated words.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};

#[derive(Clone)]
pub enum TokenCounter {
    Whitespace,
    Tokenizer(Arc<tokenizers::Tokenizer>),
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenCounter::Whitespace => f.write_str("TokenCounter::Whitespace"),
            TokenCounter::Tokenizer(_) => f.write_str("TokenCounter::Tokenizer"),
        }
    }
}

impl TokenCounter {
    /// Loads a `tokenizer.json` (or the one inside a model directory), without truncation.
    pub fn from_file(path: &Path) -> Result<Self> {
        let file = if path.is_dir() { path.join("tokenizer.json") } else { path.to_path_buf() };
        let mut tokenizer = tokenizers::Tokenizer::from_file(&file)
            .map_err(|e| Error::InvalidOption(format!("cannot load tokenizer {}: {e}", file.display())))?;
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::InvalidOption(format!("{}: {e}", file.display())))?;
        tokenizer.with_padding(None);
        Ok(TokenCounter::Tokenizer(Arc::new(tokenizer)))
    }

    pub fn count(&self, text: &str) -> u32 {
        if text.trim().is_empty() {
            return 0;
        }
        match self {
            TokenCounter::Whitespace => text.split_whitespace().count() as u32,
            TokenCounter::Tokenizer(t) => t.encode_fast(text, false).map(|e| e.len() as u32).unwrap_or_else(|_| text.split_whitespace().count() as u32),
        }
    }
}
