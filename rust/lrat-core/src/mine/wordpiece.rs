//! Counting BERT WordPiece tokens without building an `Encoding`.
//!
//! Counting is all that mining needs from the tokenizer, and `tokenizers` spends most of its time on
//! offsets, alignments and id vectors. For the common case, a `BertNormalizer` + `BertPreTokenizer` +
//! `WordPiece` tokenizer (the default model's, and every BERT-family model's), this counts exactly
//! what `Tokenizer::encode(text, false).len()` gives, on the text's printable-ASCII words; every
//! other word goes to the full tokenizer.
//!
//! Why splitting the work per word is exact: a BERT tokenizer never joins characters across ASCII
//! whitespace (the pre-tokenizer splits there after normalisation, which maps whitespace
//! character by character), so the count of a text is the sum of the counts of its
//! whitespace-separated chunks. A printable-ASCII chunk is only lowercased by the normaliser; the
//! pre-tokenizer isolates each ASCII punctuation character; WordPiece then matches greedily,
//! longest piece first. A text that contains an added token (`[SEP]` …) goes whole to the full
//! tokenizer, which extracts added tokens before anything else.

use rustc_hash::FxHashSet;

use crate::json::Json;

/// The vocabulary and settings of a BERT WordPiece tokenizer, when `tokenizer.json` describes one.
#[derive(Debug)]
pub struct BertWordPiece {
    vocab: Vocabulary,
    /// Byte length of the longest vocabulary entry, and of the longest one under the prefix.
    longest: usize,
    longest_continuation: usize,
    prefix: Box<[u8]>,
    lowercase: bool,
    max_chars_per_word: usize,
    added: Vec<memchr::memmem::Finder<'static>>,
}

/// What a text's count needs from the full tokenizer: the whole text, or some of its chunks.
pub enum Count {
    Exact(u32),
    /// The count of the text's fast-path words, plus the byte ranges of the chunks the full
    /// tokenizer must count.
    Partial(u32, Vec<std::ops::Range<usize>>),
    WholeText,
}

impl BertWordPiece {
    /// Reads the settings from a parsed `tokenizer.json`; `None` when the tokenizer is not one that
    /// the fast path reproduces exactly.
    pub fn from_json(json: &Json) -> Option<Self> {
        let normalizer = json.get("normalizer")?;
        if normalizer.get("type")?.as_str()? != "BertNormalizer" || normalizer.get("clean_text")?.as_bool() != Some(true) {
            return None;
        }
        let lowercase = normalizer.get("lowercase")?.as_bool()?;
        if json.get("pre_tokenizer")?.get("type")?.as_str()? != "BertPreTokenizer" {
            return None;
        }
        let model = json.get("model")?;
        if model.get("type")?.as_str()? != "WordPiece" {
            return None;
        }
        let prefix: Box<[u8]> = model.get("continuing_subword_prefix")?.as_str()?.as_bytes().into();
        let max_chars_per_word = model.get("max_input_chars_per_word")?.as_u64()? as usize;
        // The word and piece buffers of `count_ascii_chunk` and `count_word` bound both.
        if max_chars_per_word >= WORD_BUFFER || prefix_len(model)? > PIECE_BUFFER - WORD_BUFFER {
            return None;
        }
        let unk = model.get("unk_token")?.as_str()?;
        let entries = model.get("vocab")?.as_object()?;
        if !entries.iter().any(|(token, _)| token == unk) {
            return None;
        }
        let mut added = Vec::new();
        for token in json.get("added_tokens").and_then(Json::as_array).unwrap_or_default() {
            // Tokens matched on normalised text would need the normaliser here too.
            if token.get("normalized").and_then(Json::as_bool) != Some(false) {
                return None;
            }
            let content = token.get("content")?.as_str()?;
            if content.is_empty() {
                return None;
            }
            added.push(memchr::memmem::Finder::new(content.as_bytes()).into_owned());
        }
        let mut vocab = Vocabulary::default();
        let (mut longest, mut longest_continuation) = (0, 0);
        for (token, _) in entries {
            let bytes = token.as_bytes();
            longest = longest.max(bytes.len());
            if let Some(rest) = bytes.strip_prefix(&prefix[..]) {
                longest_continuation = longest_continuation.max(rest.len());
            }
            vocab.insert(bytes);
        }
        Some(BertWordPiece { vocab, longest, longest_continuation, prefix, lowercase, max_chars_per_word, added })
    }

    /// Counts what the fast path can; the caller counts the rest with the full tokenizer.
    pub fn count(&self, text: &str) -> Count {
        let bytes = text.as_bytes();
        if self.added.iter().any(|f| f.find(bytes).is_some()) {
            return Count::WholeText;
        }
        let mut total = 0u32;
        let mut others = Vec::new();
        let mut word = [0u8; WORD_BUFFER];
        let mut start = 0;
        while start < bytes.len() {
            if is_separator(bytes[start]) {
                start += 1;
                continue;
            }
            let end = bytes[start..].iter().position(|&b| is_separator(b)).map_or(bytes.len(), |p| start + p);
            let chunk = &bytes[start..end];
            if chunk.iter().all(|&b| (0x20..0x7f).contains(&b)) {
                total += self.count_ascii_chunk(chunk, &mut word);
            } else {
                others.push(start..end);
            }
            start = end;
        }
        if others.is_empty() {
            Count::Exact(total)
        } else {
            Count::Partial(total, others)
        }
    }

    fn count_ascii_chunk(&self, chunk: &[u8], word: &mut [u8; WORD_BUFFER]) -> u32 {
        let mut n = 0;
        let mut len = 0;
        let mut too_long = false;
        for &b in chunk {
            if b.is_ascii_punctuation() {
                n += self.count_word(&word[..len], too_long) + 1;
                len = 0;
                too_long = false;
            } else if len < word.len() {
                word[len] = if self.lowercase { b.to_ascii_lowercase() } else { b };
                len += 1;
            } else {
                too_long = true;
            }
        }
        n + self.count_word(&word[..len], too_long)
    }

    /// WordPiece on one word: greedy longest match; a word with an unmatched rest, or longer than
    /// `max_chars_per_word`, is one unknown token.
    fn count_word(&self, word: &[u8], too_long: bool) -> u32 {
        if word.is_empty() {
            return 0;
        }
        if too_long || word.len() > self.max_chars_per_word {
            return 1;
        }
        let mut piece = [0u8; PIECE_BUFFER];
        let p = self.prefix.len();
        piece[..p].copy_from_slice(&self.prefix);
        let mut n = 0;
        let mut start = 0;
        while start < word.len() {
            let limit = if start == 0 { self.longest } else { self.longest_continuation };
            let mut end = word.len().min(start + limit);
            let found = loop {
                if end <= start {
                    break false;
                }
                let hit = if start == 0 {
                    self.vocab.contains(&word[..end])
                } else {
                    let len = p + end - start;
                    piece[p..len].copy_from_slice(&word[start..end]);
                    self.vocab.contains(&piece[..len])
                };
                if hit {
                    break true;
                }
                end -= 1;
            };
            if !found {
                return 1;
            }
            n += 1;
            start = end;
        }
        n
    }
}

const WORD_BUFFER: usize = 128;
const PIECE_BUFFER: usize = 160;

fn prefix_len(model: &Json) -> Option<usize> {
    Some(model.get("continuing_subword_prefix")?.as_str()?.len())
}

/// The ASCII whitespace that both the normaliser and the pre-tokenizer split on. Other ASCII
/// controls (`\x0b`, `\x0c` …) are removed by the normaliser instead, so they do not split.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The vocabulary as a hash set of integers: a token of up to 15 bytes is packed with its length
/// into one `u128`, so a lookup hashes two words and compares one, without following a pointer
/// into the heap. Longer tokens, which are rare, are kept apart.
#[derive(Debug, Default)]
struct Vocabulary {
    short: FxHashSet<u128>,
    long: FxHashSet<Box<[u8]>>,
}

const SHORT: usize = 15;

impl Vocabulary {
    fn insert(&mut self, token: &[u8]) {
        if token.len() <= SHORT {
            self.short.insert(pack(token));
        } else {
            self.long.insert(token.into());
        }
    }

    #[inline]
    fn contains(&self, token: &[u8]) -> bool {
        if token.len() <= SHORT {
            self.short.contains(&pack(token))
        } else {
            self.long.contains(token)
        }
    }
}

#[inline]
fn pack(token: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    bytes[..token.len()].copy_from_slice(token);
    bytes[SHORT] = token.len() as u8;
    u128::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::Vocabulary;

    #[test]
    fn vocabulary_tells_tokens_apart_by_bytes_and_length() {
        let mut v = Vocabulary::default();
        for token in ["a", "ab", "##ab", "fifteen-bytes!!", "sixteen-bytes!!!", "a-rather-long-token-of-30-byte"] {
            v.insert(token.as_bytes());
        }
        for token in ["a", "ab", "##ab", "fifteen-bytes!!", "sixteen-bytes!!!", "a-rather-long-token-of-30-byte"] {
            assert!(v.contains(token.as_bytes()), "{token}");
        }
        for token in ["", "b", "ab\0", "a\0", "#ab", "fifteen-bytes!", "sixteen-bytes!!", "sixteen-bytes!!!!"] {
            assert!(!v.contains(token.as_bytes()), "{token:?}");
        }
    }
}
