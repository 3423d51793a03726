//! Counting BERT WordPiece tokens without building an `Encoding`.
//!
//! Counting is all that mining needs from the tokenizer, and `tokenizers` spends most of its time on
//! offsets, alignments and id vectors (and tens of milliseconds on loading). For a
//! `BertNormalizer` + `BertPreTokenizer` + `WordPiece` tokenizer (the default model's, and every
//! BERT-family model's) this counts exactly what `Tokenizer::encode(text, false).len()` gives, in
//! the same order of work:
//! 1. Added tokens (`[SEP]` …, matched on the raw text) are cut out first, leftmost-longest, and
//!    count one each; the pieces between them are counted on their own.
//! 2. A piece's count is the sum of the counts of its chunks between ASCII whitespace: the
//!    normaliser maps whitespace character by character and never moves a character across it,
//!    and the pre-tokenizer splits there.
//! 3. A printable-ASCII chunk is only lowercased by the normaliser; the pre-tokenizer isolates each
//!    ASCII punctuation character. Any other chunk goes through `BertNormalizer` and
//!    `BertPreTokenizer` step for step as `tokenizers` runs them, with the same Unicode tables
//!    (the `unicode_categories` and `unicode-normalization-alignments` crates), without offsets.
//! 4. WordPiece matches each word greedily, longest piece first.

use rustc_hash::FxHashSet;
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

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
    handle_chinese_chars: bool,
    strip_accents: bool,
    max_chars_per_word: usize,
    added: Vec<memchr::memmem::Finder<'static>>,
    /// Tells this vocabulary's entries in the per-thread [`RecentWords`] from another's.
    id: u64,
}

impl BertWordPiece {
    /// Reads the settings from a parsed `tokenizer.json`; `None` when the tokenizer is not one that
    /// this counts exactly.
    pub fn from_json(json: &Json) -> Option<Self> {
        let normalizer = json.get("normalizer")?;
        if normalizer.get("type")?.as_str()? != "BertNormalizer"
            || normalizer.get("clean_text")?.as_bool() != Some(true)
        {
            return None;
        }
        let lowercase = normalizer.get("lowercase")?.as_bool()?;
        let handle_chinese_chars = normalizer.get("handle_chinese_chars")?.as_bool()?;
        let strip_accents = match normalizer.get("strip_accents") {
            None | Some(Json::Null) => lowercase,
            Some(value) => value.as_bool()?,
        };
        if json.get("pre_tokenizer")?.get("type")?.as_str()? != "BertPreTokenizer" {
            return None;
        }
        let model = json.get("model")?;
        if model.get("type")?.as_str()? != "WordPiece" {
            return None;
        }
        let prefix: Box<[u8]> = model.get("continuing_subword_prefix")?.as_str()?.as_bytes().into();
        let max_chars_per_word = model.get("max_input_chars_per_word")?.as_u64()? as usize;
        // The word buffer of `count_piece` bounds the one, and the piece buffer of
        // `count_word` the prefix (with the longest continuation, checked below).
        if max_chars_per_word >= WORD_BUFFER || prefix.len() > PIECE_BUFFER - WORD_BUFFER {
            return None;
        }
        let unk = model.get("unk_token")?.as_str()?;
        let entries = model.get("vocab")?.as_object()?;
        if !entries.iter().any(|(token, _)| token == unk) {
            return None;
        }
        let mut added = Vec::new();
        for token in json.get("added_tokens").and_then(Json::as_array).unwrap_or_default() {
            // Tokens matched on normalised text, or with whitespace rules, are not reproduced here.
            let flag = |name: &str| token.get(name).and_then(Json::as_bool);
            if flag("normalized") != Some(false)
                || [flag("single_word"), flag("lstrip"), flag("rstrip")].iter().any(|f| *f != Some(false))
            {
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
        if prefix.len() + longest_continuation > PIECE_BUFFER {
            return None;
        }
        Some(BertWordPiece {
            vocab,
            longest,
            longest_continuation,
            prefix,
            lowercase,
            handle_chinese_chars,
            strip_accents,
            max_chars_per_word,
            added,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// The number of tokens of `text`.
    pub fn count(&self, text: &str) -> u32 {
        RECENT_WORDS.with_borrow_mut(|recent| {
            recent.serve(self.id);
            let mut total = 0u32;
            let mut piece_start = 0;
            for (start, end) in self.added_tokens_in(text.as_bytes()) {
                total += self.count_piece(&text[piece_start..start], recent) + 1;
                piece_start = end;
            }
            total + self.count_piece(&text[piece_start..], recent)
        })
    }

    /// Byte ranges of the added tokens in `text`: leftmost first, the longest of those that start
    /// there, without overlaps (as the full tokenizer matches them).
    fn added_tokens_in(&self, text: &[u8]) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        if self.added.is_empty() {
            return found;
        }
        let mut next: Vec<Option<usize>> = self.added.iter().map(|f| f.find(text)).collect();
        while let Some((start, len)) = next
            .iter()
            .zip(&self.added)
            .filter_map(|(at, f)| at.map(|at| (at, f.needle().len())))
            .min_by_key(|&(at, len)| (at, std::cmp::Reverse(len)))
        {
            let end = start + len;
            found.push((start, end));
            for (at, finder) in next.iter_mut().zip(&self.added) {
                if at.is_some_and(|at| at < end) {
                    *at = finder.find(&text[end..]).map(|i| end + i);
                }
            }
        }
        found
    }

    /// The count of a text without added tokens.
    fn count_piece(&self, piece: &str, recent: &mut RecentWords) -> u32 {
        let bytes = piece.as_bytes();
        let mut total = 0u32;
        let mut word = [0u8; WORD_BUFFER];
        let mut at = 0;
        'chunks: while at < bytes.len() {
            let start = at;
            let (mut n, mut len, mut too_long) = (0, 0, false);
            while at < bytes.len() {
                let b = bytes[at];
                match b {
                    _ if is_separator(b) => break,
                    b'!'..=b'/' | b':'..=b'@' | b'['..=b'`' | b'{'..=b'~' => {
                        n += self.count_ascii_word(&word[..len], too_long, recent) + 1;
                        (len, too_long) = (0, false);
                    }
                    0x20..=0x7e if len < WORD_BUFFER => {
                        word[len] = if self.lowercase { b.to_ascii_lowercase() } else { b };
                        len += 1;
                    }
                    0x20..=0x7e => too_long = true,
                    _ => {
                        // Chunks are cut at ASCII whitespace, so the range is on character boundaries.
                        let end = bytes[at..].iter().position(|&b| is_separator(b)).map_or(bytes.len(), |p| at + p);
                        total += self.count_unicode_chunk(&piece[start..end]);
                        at = end;
                        continue 'chunks;
                    }
                }
                at += 1;
            }
            total += n + self.count_ascii_word(&word[..len], too_long, recent);
            at += 1;
        }
        total
    }

    /// A chunk with other characters than printable ASCII, as `BertNormalizer` (clean text, pad
    /// CJK characters, NFD without non-spacing marks, lowercase) and `BertPreTokenizer` (split at
    /// whitespace, isolate punctuation) treat it.
    fn count_unicode_chunk(&self, chunk: &str) -> u32 {
        let mut normalized = String::with_capacity(chunk.len() + 8);
        for c in chunk.chars() {
            if c == '\0' || c == '\u{fffd}' || is_control(c) {
                continue;
            }
            let c = if is_whitespace(c) { ' ' } else { c };
            if self.handle_chinese_chars && is_chinese_char(c) {
                normalized.extend([' ', c, ' ']);
            } else {
                normalized.push(c);
            }
        }
        if self.strip_accents {
            normalized = normalized.nfd().map(|(c, _)| c).filter(|c| !c.is_mark_nonspacing()).collect();
        }
        if self.lowercase {
            normalized = normalized.chars().flat_map(char::to_lowercase).collect();
        }
        let mut n = 0;
        let mut word_start = 0;
        for (at, c) in normalized.char_indices() {
            let whitespace = c.is_whitespace();
            if whitespace || c.is_ascii_punctuation() || c.is_punctuation() {
                n += self.count_unicode_word(&normalized[word_start..at]) + u32::from(!whitespace);
                word_start = at + c.len_utf8();
            }
        }
        n + self.count_unicode_word(&normalized[word_start..])
    }

    fn count_unicode_word(&self, word: &str) -> u32 {
        self.count_word(word.as_bytes(), word.chars().count() > self.max_chars_per_word)
    }

    /// A printable-ASCII word as the normaliser leaves it (`too_long`: longer than the word buffer).
    fn count_ascii_word(&self, word: &[u8], too_long: bool, recent: &mut RecentWords) -> u32 {
        let over_limit = too_long || word.len() > self.max_chars_per_word;
        if over_limit || word.len() > SHORT {
            return self.count_word(word, over_limit);
        }
        recent.count(word, |w| self.count_word(w, false))
    }

    /// WordPiece on one word: greedy longest match; a word with an unmatched rest, or longer than
    /// `max_chars_per_word` characters (`too_long`), is one unknown token. Pieces are tried at
    /// every byte length: one that ends inside a character is not valid UTF-8, so it is in no
    /// vocabulary, and the match is the one `tokenizers` finds stepping by characters.
    fn count_word(&self, word: &[u8], too_long: bool) -> u32 {
        if word.is_empty() {
            return 0;
        }
        if too_long {
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

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    static RECENT_WORDS: std::cell::RefCell<RecentWords> = std::cell::RefCell::new(RecentWords::default());
}

/// The counts of words seen lately on this thread, in a direct-mapped table of 64 KB: most words
/// of a text are common ones, and this table stays in the core's cache where the vocabulary's
/// (a megabyte) does not. A slot holds a word packed as by [`pack`], with its count (at most 15
/// for a word of at most 15 bytes) in the top four bits.
struct RecentWords {
    vocabulary: u64,
    slots: Box<[u128]>,
}

const RECENT_SLOTS: usize = 1 << 12;

impl Default for RecentWords {
    fn default() -> Self {
        RecentWords { vocabulary: 0, slots: vec![0; RECENT_SLOTS].into_boxed_slice() }
    }
}

impl RecentWords {
    /// Forgets the words of another vocabulary.
    fn serve(&mut self, vocabulary: u64) {
        if self.vocabulary != vocabulary {
            self.slots.fill(0);
            self.vocabulary = vocabulary;
        }
    }

    /// The count of a non-empty word of at most [`SHORT`] bytes, from the table or from `count`.
    #[inline]
    fn count(&mut self, word: &[u8], count: impl FnOnce(&[u8]) -> u32) -> u32 {
        if word.is_empty() {
            return 0;
        }
        let key = pack(word);
        let hash = ((key as u64) ^ ((key >> 64) as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = &mut self.slots[(hash >> (64 - RECENT_SLOTS.trailing_zeros())) as usize];
        const COUNT_BITS: u128 = 0xF << 124;
        if *slot & !COUNT_BITS == key {
            return (*slot >> 124) as u32;
        }
        let n = count(word);
        *slot = key | u128::from(n) << 124;
        n
    }
}

const WORD_BUFFER: usize = 128;
const PIECE_BUFFER: usize = 160;

/// `BertNormalizer`'s classes of characters.
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F
    )
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

/// The token's bytes in the low 15 bytes (little-endian), its length in the top one. Read with
/// overlapping loads rather than copied into a buffer, which would stall the load that follows.
#[inline]
fn pack(token: &[u8]) -> u128 {
    let n = token.len();
    debug_assert!(n <= SHORT);
    let load8 = |at: usize| u64::from_le_bytes(token[at..at + 8].try_into().expect("8 bytes"));
    let load4 = |at: usize| u64::from(u32::from_le_bytes(token[at..at + 4].try_into().expect("4 bytes")));
    let (low, high) = match n {
        // The bytes both loads read are the same, so or-ing them is exact.
        9..=15 => (load8(0), load8(n - 8) >> (8 * (16 - n))),
        8 => (load8(0), 0),
        4..=7 => (load4(0) | load4(n - 4) << (8 * (n - 4)), 0),
        _ => (token.iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b)), 0),
    };
    u128::from(low) | u128::from(high | (n as u64) << 56) << 64
}

#[cfg(test)]
mod tests {
    use super::{pack, BertWordPiece, Vocabulary, SHORT};
    use crate::json::Json;

    fn tokenizer(vocab: &str) -> BertWordPiece {
        let json = format!(
            r###"{{"added_tokens": [], "normalizer": {{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
            "strip_accents": null, "lowercase": true}}, "pre_tokenizer": {{"type": "BertPreTokenizer"}},
            "model": {{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": {vocab}}}}}"###
        );
        BertWordPiece::from_json(&Json::parse(&json).unwrap()).unwrap()
    }

    #[test]
    fn words_remembered_for_one_vocabulary_are_not_used_for_another() {
        let whole = tokenizer(r###"{"[UNK]": 0, "ab": 1, "a": 2, "##b": 3}"###);
        let split = tokenizer(r###"{"[UNK]": 0, "a": 1, "##b": 2}"###);
        for _ in 0..2 {
            assert_eq!(whole.count("ab AB ab."), 4);
            assert_eq!(split.count("ab AB ab."), 7);
            assert_eq!(split.count("abc"), 1);
        }
    }

    #[test]
    fn pack_puts_the_bytes_low_and_the_length_in_the_top_byte() {
        let text = b"abcdefghijklmno";
        for n in 0..=SHORT {
            let mut expected = [0u8; 16];
            expected[..n].copy_from_slice(&text[..n]);
            expected[SHORT] = n as u8;
            assert_eq!(pack(&text[..n]), u128::from_le_bytes(expected), "length {n}");
        }
    }

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
