//! Python literals as logs print them (`repr` of dicts and lists: `{'type': 'function_call', …}`),
//! read into `Json` without evaluating anything: dicts, lists, tuples, sets (as lists), strings in
//! single, double or triple quotes with their escapes and `r`/`u`/`b` prefixes, adjacent strings
//! joined, integers, floats, `True`, `False`, `None`; `nan` and `inf` become null.

use std::borrow::Cow;

use crate::json::Json;

/// Nesting deeper than this is refused (as the JSON reader refuses it), not followed into a stack overflow.
const MAX_DEPTH: usize = 256;

/// Parses one literal that spans the whole text (surrounding whitespace allowed).
pub fn parse(text: &str) -> Result<Json<'static>, String> {
    let mut p = Parser { s: text.as_bytes(), text, at: 0, depth: 0 };
    let value = p.value()?;
    p.skip_space();
    if p.at != p.s.len() {
        return Err(p.error("unexpected text after the literal"));
    }
    Ok(value)
}

/// Whether `text` may be a Python literal of a container rather than JSON: it opens with `{`, `[`
/// or `(` and holds a single-quoted string or a Python constant.
pub fn looks_like(text: &str) -> bool {
    let t = text.trim_start();
    matches!(t.as_bytes().first(), Some(b'{' | b'[' | b'('))
        && (t.contains('\'') || t.contains("None") || t.contains("True") || t.contains("False"))
}

struct Parser<'t> {
    s: &'t [u8],
    text: &'t str,
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        let line = self.text[..self.at].matches('\n').count() + 1;
        let column = self.at - self.text[..self.at].rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("Python literal: {what} at line {line} column {column}")
    }

    fn skip_space(&mut self) {
        while let Some(&b) = self.s.get(self.at) {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => self.at += 1,
                // A backslash at a line end continues the line.
                b'\\' if matches!(self.s.get(self.at + 1), Some(b'\n')) => self.at += 2,
                _ => break,
            }
        }
    }

    fn value(&mut self) -> Result<Json<'static>, String> {
        self.skip_space();
        let Some(&b) = self.s.get(self.at) else { return Err(self.error("unexpected end")) };
        match b {
            b'{' | b'[' | b'(' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.error("nesting too deep"));
                }
                let v = if b == b'{' { self.dict_or_set() } else { self.sequence(if b == b'[' { b']' } else { b')' }) };
                self.depth -= 1;
                v
            }
            b'\'' | b'"' => self.strings(),
            b'-' | b'+' | b'.' | b'0'..=b'9' => self.number(),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = self.at;
                while self.s.get(self.at).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
                    self.at += 1;
                }
                let word = &self.text[start..self.at];
                if matches!(self.s.get(self.at), Some(b'\'' | b'"')) && is_string_prefix(word) {
                    self.at = start;
                    return self.strings();
                }
                match word {
                    "True" => Ok(Json::Bool(true)),
                    "False" => Ok(Json::Bool(false)),
                    "None" | "nan" | "inf" => Ok(Json::Null),
                    _ => {
                        self.at = start;
                        Err(self.error(&format!("{word:?} is not a literal")))
                    }
                }
            }
            _ => Err(self.error(&format!("unexpected {:?}", b as char))),
        }
    }

    /// Items up to `close`, separated by commas, a trailing comma allowed.
    fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Result<(), String>) -> Result<(), String> {
        self.at += 1;
        loop {
            self.skip_space();
            match self.s.get(self.at) {
                Some(&c) if c == close => {
                    self.at += 1;
                    return Ok(());
                }
                None => return Err(self.error(&format!("{:?} never closed", close as char))),
                _ => {}
            }
            item(self)?;
            self.skip_space();
            match self.s.get(self.at) {
                Some(b',') => self.at += 1,
                Some(&c) if c == close => {}
                _ => return Err(self.error(&format!("expected ',' or {:?}", close as char))),
            }
        }
    }

    fn sequence(&mut self, close: u8) -> Result<Json<'static>, String> {
        let mut out = Vec::new();
        self.items(close, |p| {
            out.push(p.value()?);
            Ok(())
        })?;
        Ok(Json::Array(out))
    }

    fn dict_or_set(&mut self) -> Result<Json<'static>, String> {
        let mut entries: Vec<(Cow<'static, str>, Json<'static>)> = Vec::new();
        let mut set: Vec<Json<'static>> = Vec::new();
        self.items(b'}', |p| {
            let key = p.value()?;
            p.skip_space();
            if p.s.get(p.at) == Some(&b':') {
                if !set.is_empty() {
                    return Err(p.error("':' inside a set"));
                }
                p.at += 1;
                let value = p.value()?;
                let key = match key {
                    Json::Str(s) => s,
                    Json::Null => Cow::Borrowed("None"),
                    Json::Bool(b) => Cow::Borrowed(if b { "True" } else { "False" }),
                    other => Cow::Owned(other.to_json_string()),
                };
                entries.push((key, value));
            } else if entries.is_empty() {
                set.push(key);
            } else {
                return Err(p.error("expected ':' after a dict key"));
            }
            Ok(())
        })?;
        Ok(if set.is_empty() { Json::Object(entries) } else { Json::Array(set) })
    }

    /// One string, or adjacent strings joined (`'a' 'b'`).
    fn strings(&mut self) -> Result<Json<'static>, String> {
        let mut out = self.string()?;
        loop {
            let before = self.at;
            self.skip_space();
            let next = self.s.get(self.at).copied();
            let prefixed = next.is_some_and(|c| c.is_ascii_alphabetic()) && {
                let end = self.s[self.at..]
                    .iter()
                    .position(|c| !c.is_ascii_alphabetic())
                    .map_or(self.s.len(), |i| self.at + i);
                is_string_prefix(&self.text[self.at..end]) && matches!(self.s.get(end), Some(b'\'' | b'"'))
            };
            if matches!(next, Some(b'\'' | b'"')) || prefixed {
                out.push_str(&self.string()?);
            } else {
                self.at = before;
                return Ok(Json::Str(Cow::Owned(out)));
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let mut raw = false;
        while let Some(&c) = self.s.get(self.at) {
            match c.to_ascii_lowercase() {
                b'r' => raw = true,
                b'u' | b'b' | b'f' => {}
                _ => break,
            }
            self.at += 1;
        }
        let quote = self.s[self.at];
        let triple = self.s[self.at..].starts_with(&[quote; 3]);
        let open = self.at;
        self.at += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.at) else {
                self.at = open;
                return Err(self.error("string never closed"));
            };
            if c == quote && (!triple || self.s[self.at..].starts_with(&[quote; 3])) {
                self.at += if triple { 3 } else { 1 };
                return Ok(out);
            }
            if c == b'\n' && !triple {
                return Err(self.error("line break inside a string"));
            }
            if c == b'\\' {
                let Some(&e) = self.s.get(self.at + 1) else {
                    self.at = open;
                    return Err(self.error("string never closed"));
                };
                if raw {
                    // A raw string keeps its backslashes; a quote after one does not end it.
                    out.push('\\');
                    self.at += 1;
                    if e == quote || e == b'\\' {
                        out.push(e as char);
                        self.at += 1;
                    }
                    continue;
                }
                self.at += 2;
                match e {
                    b'n' => out.push('\n'),
                    b't' => out.push('\t'),
                    b'r' => out.push('\r'),
                    b'0' => out.push('\0'),
                    b'a' => out.push('\u{7}'),
                    b'b' => out.push('\u{8}'),
                    b'f' => out.push('\u{c}'),
                    b'v' => out.push('\u{b}'),
                    b'\n' => {}
                    b'\\' | b'\'' | b'"' => out.push(e as char),
                    b'x' => out.push(self.hex_escape(2)?),
                    b'u' => out.push(self.hex_escape(4)?),
                    b'U' => out.push(self.hex_escape(8)?),
                    _ => {
                        // Unknown escapes stay as written, as Python keeps them.
                        out.push('\\');
                        self.at -= 1;
                    }
                }
                continue;
            }
            let len = utf8_len(c);
            out.push_str(&self.text[self.at..self.at + len]);
            self.at += len;
        }
    }

    fn hex_escape(&mut self, digits: usize) -> Result<char, String> {
        let hex = self.text.get(self.at..self.at + digits).ok_or_else(|| self.error("short escape"))?;
        let code = u32::from_str_radix(hex, 16).map_err(|_| self.error("bad escape"))?;
        self.at += digits;
        Ok(char::from_u32(code).unwrap_or('\u{fffd}'))
    }

    fn number(&mut self) -> Result<Json<'static>, String> {
        let start = self.at;
        if matches!(self.s.get(self.at), Some(b'-' | b'+')) {
            self.at += 1;
            if self.text[self.at..].starts_with("inf") || self.text[self.at..].starts_with("nan") {
                self.at += 3;
                return Ok(Json::Null);
            }
        }
        while self.s.get(self.at).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-')) {
            let c = self.s[self.at];
            // A sign only follows an exponent.
            if matches!(c, b'+' | b'-') && !matches!(self.s[self.at - 1], b'e' | b'E') {
                break;
            }
            self.at += 1;
        }
        let digits: String = self.text[start..self.at].chars().filter(|c| *c != '_').collect();
        if let Ok(i) = digits.parse::<i64>() {
            return Ok(Json::Int(i));
        }
        if let Ok(u) = digits.parse::<u64>() {
            return Ok(Json::UInt(u));
        }
        match digits.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Json::Float(f)),
            Ok(_) => Ok(Json::Null),
            Err(_) => {
                self.at = start;
                Err(self.error(&format!("{digits:?} is not a number")))
            }
        }
    }
}

fn is_string_prefix(word: &str) -> bool {
    word.len() <= 2 && word.chars().all(|c| matches!(c.to_ascii_lowercase(), 'r' | 'u' | 'b' | 'f'))
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> String {
        parse(text).unwrap().to_json_string()
    }

    #[test]
    fn reads_reprs_of_response_items() {
        let item = r#"[{'type': 'function_call', 'name': 'search', 'arguments': '{"query": "it\'s"}', 'call_id': "c'1", 'status': None, 'ok': True}, ('a', 2,), {1, 2}]"#;
        assert_eq!(
            json(item),
            r#"[{"type":"function_call","name":"search","arguments":"{\"query\": \"it's\"}","call_id":"c'1","status":null,"ok":true},["a",2],[1,2]]"#
        );
    }

    #[test]
    fn strings_escapes_and_numbers() {
        assert_eq!(json(r"'a\nb\x41\u00e9\\'"), r#""a\nbAé\\""#);
        assert_eq!(json(r"r'a\nb'"), r#""a\\nb""#);
        assert_eq!(json("'''multi\nline''' \"x\""), r#""multi\nlinex""#);
        assert_eq!(json("'é – ok'"), "\"é – ok\"");
        assert_eq!(
            json("[-3, 2.5, 1e-3, 1_000, nan, -inf, 18446744073709551615]"),
            "[-3,2.5,0.001,1000,null,null,18446744073709551615]"
        );
        assert_eq!(json("{}"), "{}");
        assert_eq!(json("{1: 'one', None: 2}"), r#"{"1":"one","None":2}"#);
    }

    #[test]
    fn refuses_what_is_not_a_literal() {
        for bad in ["[1, 2", "{'a' 1}", "__import__('os')", "'open", "[1] x", "{'a': 1, 2}", "'a\nb'", ""] {
            let e = parse(bad).unwrap_err();
            assert!(e.starts_with("Python literal: "), "{bad:?}: {e}");
        }
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).unwrap_err().contains("nesting too deep"));
    }

    #[test]
    fn tells_literals_from_plain_text() {
        assert!(looks_like("[{'type': 'message'}]"));
        assert!(looks_like("{\"a\": None}"));
        assert!(!looks_like("just text with 'quotes'"));
        assert!(!looks_like("[1, 2]"));
    }
}
