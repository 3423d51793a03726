//! A JSON tree that borrows its strings from the input wherever they hold no escapes, and the
//! others, once unescaped, from a `TextArena` when given one. Every format parser reads records
//! through it: it is liberal (any shape parses) and cheap (no allocation per string).
//!
//! The reader is hand-written (RFC 8259, strict) rather than serde_json's: agent logs are mostly
//! long strings dense with escapes (a tool's JSON output inside a JSON string), and here a string
//! is scanned, checked and unescaped in one SIMD pass (16 bytes at a time for `"`, `\\` and
//! control characters), with no call per escape.

use std::borrow::Cow;
use std::fmt;
use std::mem::MaybeUninit;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::arena::TextArena;

#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

static NULL: Json<'static> = Json::Null;

impl<'a> Json<'a> {
    /// Parses one JSON document; the error message gives the line and column.
    pub fn parse(text: &'a str) -> Result<Json<'a>, JsonError> {
        Json::parse_with(text, None, true)
    }

    /// `parse`, with the strings that hold escapes unescaped into `arena` (and borrowed from it)
    /// instead of each into its own `String`. An arena with room for `text.len()` bytes holds them
    /// all.
    pub fn parse_in(text: &'a str, arena: &'a TextArena) -> Result<Json<'a>, JsonError> {
        Json::parse_with(text, Some(arena), true)
    }

    /// `allow_wide`: unescape with 32-byte copies where the CPU has AVX2 (else 16-byte ones).
    fn parse_with(text: &'a str, arena: Option<&'a TextArena>, allow_wide: bool) -> Result<Json<'a>, JsonError> {
        let mut reader = Reader::new(text, arena, allow_wide);
        let value = reader.value()?;
        reader.skip_whitespace();
        if reader.at < reader.bytes.len() {
            return Err(reader.error("trailing characters"));
        }
        Ok(value)
    }

    /// Parses the JSON value at the start of `text` and returns it with the bytes it took;
    /// whatever follows is left alone.
    pub fn parse_prefix(text: &'a str) -> Result<(Json<'a>, usize), JsonError> {
        let mut reader = Reader::new(text, None, true);
        let value = reader.value()?;
        Ok((value, reader.at))
    }

    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The first present, non-null field among `keys`.
    pub fn get_any(&self, keys: &[&str]) -> Option<&Json<'a>> {
        keys.iter().filter_map(|k| self.get(k)).find(|v| !v.is_null())
    }

    /// `self[key]`, or `Json::Null` when absent.
    pub fn field(&self, key: &str) -> &Json<'a> {
        self.get(key).unwrap_or(&NULL)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::UInt(u) => Some(*u),
            Json::Int(i) => u64::try_from(*i).ok(),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(fields) => Some(fields),
            _ => None,
        }
    }

    /// A string, or a number written as text (docids are often numbers). A float is a key only when
    /// it is integral and below 9e15, where every integer is exact in an f64: `1e20` names no
    /// integer anyone wrote, and casting it would give the text of `i64::MAX`.
    pub fn as_key(&self) -> Option<String> {
        match self {
            Json::Str(s) => {
                let t = s.trim();
                (!t.is_empty()).then(|| t.to_string())
            }
            Json::Int(i) => Some(i.to_string()),
            Json::UInt(u) => Some(u.to_string()),
            Json::Float(f) if f.fract() == 0.0 && f.abs() < EXACT_INTEGERS => Some(format!("{}", *f as i64)),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Int(i) => Some(*i as f64),
            Json::UInt(u) => Some(*u as f64),
            Json::Float(f) => Some(*f),
            Json::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) | Json::UInt(_) | Json::Float(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "a list",
            Json::Object(_) => "an object",
        }
    }

    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a text is not JSON, and where (1-based line and column, the column counted in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub message: &'static str,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {} column {}", self.message, self.line, self.column)
    }
}

impl std::error::Error for JsonError {}

/// Nesting deeper than this is an error (as in serde_json), so that no input exhausts the stack.
const MAX_DEPTH: usize = 128;

/// Below this magnitude every integer is exact in an f64 (2^53 ≈ 9.007e15), so an integral float
/// there prints as the integer that was written.
pub const EXACT_INTEGERS: f64 = 9.0e15;

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: usize,
    /// Where strings with escapes go, when given.
    arena: Option<&'a TextArena>,
    /// The unescaped bytes of the current string, without an arena (kept to reuse the allocation).
    scratch: Vec<u8>,
    /// Set only where the CPU has AVX2.
    wide: bool,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str, arena: Option<&'a TextArena>, allow_wide: bool) -> Self {
        Reader {
            text,
            bytes: text.as_bytes(),
            at: 0,
            depth: 0,
            arena,
            scratch: Vec::new(),
            wide: allow_wide && wide_copies(),
        }
    }

    fn error(&self, message: &'static str) -> JsonError {
        let at = self.at.min(self.bytes.len());
        let before = &self.bytes[..at];
        let line = memchr::memchr_iter(b'\n', before).count() + 1;
        let column = at - memchr::memrchr(b'\n', before).map_or(0, |i| i + 1) + 1;
        JsonError { message, line, column }
    }

    fn eof_or(&self, message: &'static str, eof: &'static str) -> JsonError {
        self.error(if self.at >= self.bytes.len() { eof } else { message })
    }

    #[inline]
    fn skip_whitespace(&mut self) {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Json<'a>, JsonError> {
        self.skip_whitespace();
        match self.bytes.get(self.at) {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected value")),
        }
    }

    fn literal(&mut self, word: &[u8], value: Json<'a>) -> Result<Json<'a>, JsonError> {
        for &expected in word {
            match self.bytes.get(self.at) {
                Some(&b) if b == expected => self.at += 1,
                None => return Err(self.error("EOF while parsing a value")),
                Some(_) => return Err(self.error("expected value")),
            }
        }
        Ok(value)
    }

    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        Ok(())
    }

    /// Consumes `close` when it comes next, leaving the list or object it ends.
    fn closes(&mut self, close: u8) -> bool {
        if self.bytes.get(self.at) != Some(&close) {
            return false;
        }
        self.at += 1;
        self.depth -= 1;
        true
    }

    fn array(&mut self) -> Result<Json<'a>, JsonError> {
        self.enter()?;
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.closes(b']') {
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_whitespace();
            if self.closes(b']') {
                return Ok(Json::Array(items));
            }
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                None => return Err(self.error("EOF while parsing a list")),
                Some(_) => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self) -> Result<Json<'a>, JsonError> {
        self.enter()?;
        self.at += 1;
        let mut fields = Vec::new();
        self.skip_whitespace();
        if self.closes(b'}') {
            return Ok(Json::Object(fields));
        }
        loop {
            self.skip_whitespace();
            if self.bytes.get(self.at) != Some(&b'"') {
                return Err(self.eof_or("key must be a string", "EOF while parsing an object"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.bytes.get(self.at) != Some(&b':') {
                return Err(self.eof_or("expected `:`", "EOF while parsing an object"));
            }
            self.at += 1;
            fields.push((key, self.value()?));
            self.skip_whitespace();
            if self.closes(b'}') {
                return Ok(Json::Object(fields));
            }
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    /// A string starting at the opening quote: borrowed when it holds no escape, else unescaped into
    /// the arena (and borrowed from it) or into a `String`.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let start = self.at + 1;
        let first = find_special(self.bytes, start);
        if self.bytes.get(first) == Some(&b'"') {
            self.at = first + 1;
            return Ok(Cow::Borrowed(&self.text[start..first]));
        }
        // An escape, a control character or the end of the input: `unescape` reads the first and
        // reports the others. Unescaped, the string is no longer than the input left from `start`.
        let room = self.bytes.len() - start;
        if let Some(arena) = self.arena {
            // SAFETY: `unescape` fills the window with UTF-8 (see there).
            if let Some(read) = unsafe { arena.write_str(room, |window| self.unescape(start, first, window)) } {
                return read.map(Cow::Borrowed);
            }
        }
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        out.reserve(room);
        let read = self.unescape(start, first, &mut out.spare_capacity_mut()[..room]);
        // SAFETY: `unescape` initialised the first `n` bytes with UTF-8.
        let string = read.map(|n| unsafe {
            out.set_len(n);
            String::from_utf8_unchecked(out.as_slice().to_vec())
        });
        self.scratch = out;
        string.map(Cow::Owned)
    }

    /// Writes the string whose text starts at `start` (and whose first special byte is at `first`)
    /// into `out`, unescaped, up to its closing quote; returns the bytes written. The output is
    /// UTF-8: pieces of the input cut next to ASCII bytes (so whole UTF-8 sequences) and the UTF-8
    /// of each escape. It never runs ahead of the input, so `out` needs no more room than the
    /// input has bytes from `start`.
    fn unescape(&mut self, start: usize, at: usize, out: &mut [MaybeUninit<u8>]) -> Result<usize, JsonError> {
        if self.wide {
            // SAFETY: `wide` is only set when the CPU has AVX2.
            #[cfg(target_arch = "x86_64")]
            return unsafe { self.unescape_avx2(start, at, out) };
        }
        self.unescape_with::<false>(start, at, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn unescape_avx2(
        &mut self,
        start: usize,
        at: usize,
        out: &mut [MaybeUninit<u8>],
    ) -> Result<usize, JsonError> {
        self.unescape_with::<true>(start, at, out)
    }

    /// `unescape`, copying plain runs 32 bytes at a time when `WIDE` (only where AVX2 is enabled).
    #[inline(always)]
    fn unescape_with<const WIDE: bool>(
        &mut self,
        start: usize,
        mut at: usize,
        out: &mut [MaybeUninit<u8>],
    ) -> Result<usize, JsonError> {
        let mut o = put(out, 0, &self.bytes[start..at]);
        loop {
            match self.bytes.get(at) {
                Some(b'"') => {
                    self.at = at + 1;
                    return Ok(o);
                }
                Some(b'\\') => {}
                Some(_) => {
                    self.at = at;
                    return Err(self.error("control character (\\u0000-\\u001F) found while parsing a string"));
                }
                None => {
                    self.at = self.bytes.len();
                    return Err(self.error("EOF while parsing a string"));
                }
            }
            let Some(&code) = self.bytes.get(at + 1) else {
                self.at = self.bytes.len();
                return Err(self.error("EOF while parsing a string"));
            };
            at += 2;
            let byte = ESCAPED[code as usize];
            if byte != 0 {
                out[o].write(byte);
                o += 1;
            } else if code == b'u' {
                let (c, next) = self.unicode_escape(at)?;
                at = next;
                o = put(out, o, c.encode_utf8(&mut [0u8; 4]).as_bytes());
            } else {
                self.at = at - 1;
                return Err(self.error("invalid escape"));
            }
            (at, o) = copy_plain::<WIDE>(self.bytes, at, out, o);
        }
    }

    /// The char of a `\u` escape (four hex digits; a surrogate pair takes two escapes) whose
    /// digits start at `at`.
    fn unicode_escape(&mut self, at: usize) -> Result<(char, usize), JsonError> {
        let first = self.hex4(at)?;
        if !(0xD800..0xE000).contains(&first) {
            return Ok((char::from_u32(first as u32).expect("not a surrogate"), at + 4));
        }
        if first >= 0xDC00 {
            self.at = at;
            return Err(self.error("lone trailing surrogate in hex escape"));
        }
        if self.bytes.get(at + 4..at + 6) != Some(b"\\u") {
            self.at = at;
            return Err(self.error("lone leading surrogate in hex escape"));
        }
        let second = self.hex4(at + 6)?;
        if !(0xDC00..0xE000).contains(&second) {
            self.at = at + 6;
            return Err(self.error("lone leading surrogate in hex escape"));
        }
        let c = 0x10000 + (((first as u32) - 0xD800) << 10) + ((second as u32) - 0xDC00);
        Ok((char::from_u32(c).expect("a valid surrogate pair"), at + 10))
    }

    fn hex4(&mut self, at: usize) -> Result<u16, JsonError> {
        let digits = self.bytes.get(at..at + 4).unwrap_or_default();
        let mut n = 0u16;
        for (k, &b) in digits.iter().enumerate() {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => {
                    self.at = at + k;
                    return Err(self.error("invalid escape"));
                }
            };
            n = n * 16 + d as u16;
        }
        if digits.len() < 4 {
            self.at = at;
            return Err(self.error("invalid escape"));
        }
        Ok(n)
    }

    fn number(&mut self) -> Result<Json<'a>, JsonError> {
        let start = self.at;
        let negative = self.bytes[self.at] == b'-';
        if negative {
            self.at += 1;
        }
        let digits = |r: &mut Self| {
            let from = r.at;
            while r.bytes.get(r.at).is_some_and(u8::is_ascii_digit) {
                r.at += 1;
            }
            r.at - from
        };
        let int_start = self.at;
        match digits(self) {
            0 => return Err(self.eof_or("invalid number", "EOF while parsing a value")),
            n if n > 1 && self.bytes[int_start] == b'0' => {
                self.at = int_start + 1;
                return Err(self.error("invalid number"));
            }
            _ => {}
        }
        let mut integer = true;
        if self.bytes.get(self.at) == Some(&b'.') {
            integer = false;
            self.at += 1;
            if digits(self) == 0 {
                return Err(self.eof_or("invalid number", "EOF while parsing a value"));
            }
        }
        if matches!(self.bytes.get(self.at), Some(b'e' | b'E')) {
            integer = false;
            self.at += 1;
            if matches!(self.bytes.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.eof_or("invalid number", "EOF while parsing a value"));
            }
        }
        let text = &self.text[start..self.at];
        if integer {
            if negative {
                if let Ok(i) = text.parse::<i64>() {
                    return Ok(Json::Int(i));
                }
            } else if let Ok(u) = text.parse::<u64>() {
                return Ok(Json::UInt(u));
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Json::Float(f)),
            _ => {
                self.at = start;
                Err(self.error("number out of range"))
            }
        }
    }
}

/// Whether a byte ends a run of plain string bytes: a quote, a backslash or a control character.
#[inline]
fn is_special(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// The mask of special bytes in 16 bytes (bit i set when byte i is special).
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn special_mask(v: std::arch::x86_64::__m128i) -> u32 {
    use std::arch::x86_64::*;
    let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
    let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
    let limit = _mm_set1_epi8(0x1f);
    // Unsigned b <= 0x1f exactly when max(b, 0x1f) == 0x1f.
    let control = _mm_cmpeq_epi8(_mm_max_epu8(v, limit), limit);
    _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
}

/// `special_mask` of 32 bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn special_mask_wide(v: std::arch::x86_64::__m256i) -> u32 {
    use std::arch::x86_64::*;
    let quote = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'"' as i8));
    let backslash = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\\' as i8));
    let limit = _mm256_set1_epi8(0x1f);
    let control = _mm256_cmpeq_epi8(_mm256_max_epu8(v, limit), limit);
    _mm256_movemask_epi8(_mm256_or_si256(_mm256_or_si256(quote, backslash), control)) as u32
}

/// The position of the first special byte at or after `at`, or `bytes.len()`.
#[inline]
fn find_special(bytes: &[u8], mut at: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    while at + 16 <= bytes.len() {
        // SAFETY: SSE2 is part of x86_64; the load reads bytes[at..at + 16], in bounds.
        let mask = unsafe { special_mask(std::arch::x86_64::_mm_loadu_si128(bytes.as_ptr().add(at).cast())) };
        if mask != 0 {
            return at + mask.trailing_zeros() as usize;
        }
        at += 16;
    }
    while at < bytes.len() && !is_special(bytes[at]) {
        at += 1;
    }
    at
}

/// The byte each two-character escape (`\\n`, `\\"`, …) stands for, by the character after the
/// backslash; 0 where that character makes no such escape (`u` included).
static ESCAPED: [u8; 256] = {
    let mut table = [0u8; 256];
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[b'/' as usize] = b'/';
    table[b'b' as usize] = 0x08;
    table[b'f' as usize] = 0x0c;
    table[b'n' as usize] = b'\n';
    table[b'r' as usize] = b'\r';
    table[b't' as usize] = b'\t';
    table
};

/// Whether strings can be unescaped with 32-byte copies: whether the CPU has AVX2, asked once.
#[cfg(not(target_arch = "x86_64"))]
fn wide_copies() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn wide_copies() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        0 => {
            let yes = std::is_x86_feature_detected!("avx2");
            KNOWN.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        known => known == 2,
    }
}

/// Writes `bytes` into `out` at `o`; returns the position after them.
#[inline]
fn put(out: &mut [MaybeUninit<u8>], o: usize, bytes: &[u8]) -> usize {
    let end = o + bytes.len();
    let slots = &mut out[o..end];
    // SAFETY: `slots` and `bytes` have the same length, and a `&mut` and a `&` never overlap.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), slots.as_mut_ptr().cast::<u8>(), bytes.len()) };
    end
}

/// Copies the plain bytes from `at` on into `out` at `o`; returns the position of the special byte
/// that stopped it (or `bytes.len()`) and the position after the copy in `out`. Whole blocks (32
/// bytes when `WIDE`, else 16) are stored before they are looked at, so a string dense with escapes
/// costs no call per escape.
#[inline(always)]
fn copy_plain<const WIDE: bool>(
    bytes: &[u8],
    mut at: usize,
    out: &mut [MaybeUninit<u8>],
    mut o: usize,
) -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if WIDE {
            // SAFETY: `WIDE` is only set in code compiled for AVX2 (`unescape_avx2`).
            match unsafe { copy_blocks::<32>(bytes, at, out, o) } {
                Ok(stop) => return stop,
                Err(rest) => (at, o) = rest,
            }
        }
        // SAFETY: SSE2 is part of x86_64.
        match unsafe { copy_blocks::<16>(bytes, at, out, o) } {
            Ok(stop) => return stop,
            Err(rest) => (at, o) = rest,
        }
    }
    let end = find_special(bytes, at);
    (end, put(out, o, &bytes[at..end]))
}

/// `copy_plain` in whole blocks of `N` bytes (16, or 32 with AVX2): `Ok` at the special byte that
/// stopped it, `Err` with where it got to when fewer than `N` bytes are left on either side.
///
/// # Safety
/// With `N` = 32 the CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn copy_blocks<const N: usize>(
    bytes: &[u8],
    mut at: usize,
    out: &mut [MaybeUninit<u8>],
    mut o: usize,
) -> Result<(usize, usize), (usize, usize)> {
    use std::arch::x86_64::*;
    while at + N <= bytes.len() && o + N <= out.len() {
        let (from, to) = (bytes.as_ptr().add(at), out.as_mut_ptr().add(o));
        // SAFETY: the load reads bytes[at..at + N] and the store writes out[o..o + N], both in
        // bounds; only the plain bytes among them count as written.
        let mask = if N == 32 {
            let v = _mm256_loadu_si256(from.cast());
            _mm256_storeu_si256(to.cast(), v);
            special_mask_wide(v)
        } else {
            let v = _mm_loadu_si128(from.cast());
            _mm_storeu_si128(to.cast(), v);
            special_mask(v)
        };
        if mask != 0 {
            let k = mask.trailing_zeros() as usize;
            return Ok((at + k, o + k));
        }
        at += N;
        o += N;
    }
    Err((at, o))
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Int(i) => s.serialize_i64(*i),
            Json::UInt(u) => s.serialize_u64(*u),
            Json::Float(f) => s.serialize_f64(*f),
            Json::Str(v) => s.serialize_str(v),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_integral_floats_are_keys() {
        let key = |f: f64| Json::Float(f).as_key();
        assert_eq!(key(3.0).as_deref(), Some("3"));
        assert_eq!(key(-2.0).as_deref(), Some("-2"));
        assert_eq!(key(8.9e15).as_deref(), Some("8900000000000000"));
        assert_eq!(key(1e20), None);
        assert_eq!(key(-1e20), None);
        assert_eq!(key(2.5), None);
        assert_eq!(key(f64::NAN), None);
        assert_eq!(key(f64::INFINITY), None);
        assert_eq!(Json::parse(r#"{"docid": 1e20}"#).unwrap().field("docid").as_key(), None);
    }

    #[test]
    fn unescaped_strings_are_borrowed() {
        let text = r#"{"a": "plain", "b": "esc\naped", "n": 12, "l": [1, 2.5, null], "c": "\u00e9t\u00e9"}"#;
        let v = Json::parse(text).unwrap();
        assert!(matches!(v.field("a"), Json::Str(Cow::Borrowed("plain"))));
        assert!(matches!(v.field("b"), Json::Str(Cow::Owned(_))));

        // With an arena, strings with escapes are borrowed from it, back to back.
        let arena = TextArena::with_capacity(text.len());
        let w = Json::parse_in(text, &arena).unwrap();
        assert_eq!(w, v);
        assert!(matches!(w.field("b"), Json::Str(Cow::Borrowed("esc\naped"))));
        assert_eq!(arena.share().as_str(), "esc\napedété");
        // An arena without room for the rest of the text is left alone: the string is owned.
        let small = TextArena::with_capacity(4);
        assert!(matches!(Json::parse_in(text, &small).unwrap().field("b"), Json::Str(Cow::Owned(_))));
        assert!(small.is_empty());
        assert_eq!(v.field("n").as_key().as_deref(), Some("12"));
        assert_eq!(v.field("l").as_array().unwrap().len(), 3);
        assert_eq!(Json::parse(&v.to_json_string()).unwrap(), v);
    }

    #[test]
    fn trailing_garbage_and_deep_nesting_are_errors() {
        assert!(Json::parse("{} x").is_err());
        let deep = "[".repeat(100_000);
        assert!(Json::parse(&deep).is_err());
    }

    fn to_value(v: &Json) -> serde_json::Value {
        serde_json::from_str(&v.to_json_string()).unwrap()
    }

    /// Equal up to the last bit of floats (serde_json's float parser may be off by one ulp).
    fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match (a, b) {
            (V::Number(x), V::Number(y)) if x.is_f64() || y.is_f64() => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
            }
            (V::Array(x), V::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
            (V::Object(x), V::Object(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|((k, a), (l, b))| k == l && same(a, b))
            }
            _ => a == b,
        }
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let e = Json::parse("{\n  \"a\": [1, 2,\n  ").unwrap_err();
        assert_eq!((e.message, e.line), ("EOF while parsing a value", 3));
        let e = Json::parse("{\"a\": tru}").unwrap_err();
        assert_eq!((e.message, e.line, e.column), ("expected value", 1, 10));
        assert_eq!(Json::parse("{} x").unwrap_err().to_string(), "trailing characters at line 1 column 4");
        assert_eq!(Json::parse("\"a\\qb\"").unwrap_err().message, "invalid escape");
        assert_eq!(
            Json::parse("\"a\u{1}b\"").unwrap_err().message,
            "control character (\\u0000-\\u001F) found while parsing a string"
        );
        assert_eq!(Json::parse("\"\\ud800x\"").unwrap_err().message, "lone leading surrogate in hex escape");
        assert_eq!(Json::parse("01").unwrap_err().message, "invalid number");
    }

    #[test]
    fn escapes_and_numbers() {
        let v = Json::parse(r#"["\"\\\/\b\f\n\r\t", "\u00e9\ud83d\ude00", -0, 18446744073709551615, 18446744073709551616, -9223372036854775808, 1.5e3, 2E-2]"#).unwrap();
        let items = v.as_array().unwrap();
        assert_eq!(items[0].as_str(), Some("\"\\/\u{8}\u{c}\n\r\t"));
        assert_eq!(items[1].as_str(), Some("é😀"));
        assert_eq!(items[2], Json::Int(0));
        assert_eq!(items[3], Json::UInt(u64::MAX));
        assert_eq!(items[4], Json::Float(18446744073709551616.0));
        assert_eq!(items[5], Json::Int(i64::MIN));
        assert_eq!(items[6], Json::Float(1500.0));
        assert_eq!(items[7], Json::Float(0.02));
        assert_eq!(Json::parse_prefix("{\"a\": 1} trailing").unwrap().1, 8);
    }

    fn arbitrary_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value as V;
        let leaf = prop_oneof![
            Just(V::Null),
            any::<bool>().prop_map(V::Bool),
            any::<i64>().prop_map(V::from),
            any::<u64>().prop_map(V::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(V::from),
            ".*".prop_map(V::String),
            "[a-z\"\\\\\n\t\u{0}-\u{1f}é😀]{0,70}".prop_map(V::String),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(V::Array),
                proptest::collection::vec(("[a-z\"\\\\é]{0,6}", inner), 0..8)
                    .prop_map(|fields| V::Object(fields.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn reads_what_serde_json_writes(value in arbitrary_value(), pretty in proptest::prelude::any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
            let ours = Json::parse(&text).unwrap();
            proptest::prop_assert!(same(&to_value(&ours), &value), "{} read as {:?}", text, ours);
            let arena = TextArena::with_capacity(text.len());
            proptest::prop_assert_eq!(Json::parse_in(&text, &arena).unwrap(), ours.clone());
            proptest::prop_assert_eq!(Json::parse_with(&text, None, false).unwrap(), ours, "with 16-byte copies");
        }

        #[test]
        fn accepts_and_rejects_as_serde_json_does(value in arbitrary_value(), cut in 0usize..400, byte in 0u8..128, at in 0usize..400) {
            let mut text = serde_json::to_string(&value).unwrap().into_bytes();
            if !text.is_empty() {
                let at = at % text.len();
                text[at] = byte;
            }
            text.truncate(cut.max(1));
            let Ok(text) = String::from_utf8(text) else { return Ok(()) };
            let theirs = serde_json::from_str::<serde_json::Value>(&text);
            let ours = Json::parse(&text);
            let arena = TextArena::with_capacity(text.len());
            proptest::prop_assert_eq!(&Json::parse_in(&text, &arena), &ours);
            proptest::prop_assert_eq!(&Json::parse_with(&text, None, false), &ours, "with 16-byte copies");
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => proptest::prop_assert!(same(&to_value(a), b), "{:?}: {:?} vs {:?}", text, a, b),
                (Err(_), Err(_)) => {}
                _ => proptest::prop_assert!(false, "{:?}: ours {:?}, serde_json {:?}", text, ours, theirs),
            }
        }
    }
}
