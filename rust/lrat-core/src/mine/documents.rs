//! Document texts found inside trajectories: the full text a browse returned, else the snippets
//! the agent saw in result lists.

use std::borrow::Cow;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::model::{StepKind, Trajectory};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TextSource {
    Browse,
    Snippet,
}

impl TextSource {
    pub fn name(self) -> &'static str {
        match self {
            TextSource::Browse => "browse",
            TextSource::Snippet => "snippet",
        }
    }
}

/// A document's text; it borrows from the trajectories unless cleaning had to rewrite it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentText<'t> {
    pub key: &'t str,
    pub title: Option<&'t str>,
    pub text: Cow<'t, str>,
    pub source: TextSource,
}

/// The best text of every document the trajectories show: a successful browse's output (cleaned
/// of its `Document <id>:` header and of a `{'docid': …, 'text': …}` wrapper), else the longest
/// snippet. A browse text takes the title of the document's snippets. Documents come out in the
/// order they first appear.
pub fn document_texts(trajectories: &[Trajectory]) -> Vec<DocumentText<'_>> {
    let candidates: Vec<Vec<DocumentText>> =
        crate::pool::pool().install(|| trajectories.par_iter().map(trajectory_texts).collect());
    let mut at: FxHashMap<&str, usize> = FxHashMap::default();
    let mut best: Vec<DocumentText> = Vec::new();
    for candidate in candidates.into_iter().flatten() {
        let Some(&i) = at.get(candidate.key) else {
            at.insert(candidate.key, best.len());
            best.push(candidate);
            continue;
        };
        let current = &mut best[i];
        let better = candidate.source < current.source
            || (candidate.source == current.source && candidate.text.len() > current.text.len());
        if better {
            let title = candidate.title.or(current.title);
            *current = DocumentText { title, ..candidate };
        }
    }
    best
}

/// Every text one trajectory offers, in step order.
fn trajectory_texts(t: &Trajectory) -> Vec<DocumentText<'_>> {
    let mut out = Vec::new();
    for step in &t.steps {
        match step.kind {
            StepKind::Search => {
                for hit in &step.hits {
                    let Some(snippet) = hit.snippet.as_deref().map(str::trim).filter(|s| !s.is_empty()) else { continue };
                    out.push(DocumentText {
                        key: &hit.doc_key,
                        title: hit.title.as_deref(),
                        text: Cow::Borrowed(snippet),
                        source: TextSource::Snippet,
                    });
                }
            }
            StepKind::Browse => {
                let Some(b) = step.browse.as_ref() else { continue };
                let (Some(key), Some(content), true) = (b.doc_key.as_deref(), b.content.as_deref(), b.ok) else { continue };
                let text = clean_browse_text(content);
                if text.trim().is_empty() {
                    continue;
                }
                out.push(DocumentText { key, title: None, text, source: TextSource::Browse });
            }
            _ => {}
        }
    }
    out
}

/// The document text inside a browse output.
pub fn clean_browse_text(content: &str) -> Cow<'_, str> {
    let mut body = content.trim_start();
    if let Some(rest) = body.strip_prefix("Document ") {
        if let Some((id, after)) = rest.split_once(':') {
            if !id.trim().is_empty() && !id.trim().contains(char::is_whitespace) {
                body = after.trim_start();
            }
        }
    }
    if body.starts_with('{') {
        for (marker, quote) in [("'text': '", b'\''), ("'text': \"", b'"'), ("\"text\": \"", b'"')] {
            if let Some(at) = body.find(marker) {
                if let Some(text) = read_quoted(&body[at + marker.len()..], quote) {
                    return Cow::Owned(text);
                }
            }
        }
    }
    Cow::Borrowed(body.trim_end())
}

/// Reads a Python / JSON string literal body up to its closing `quote`, resolving escapes.
fn read_quoted(s: &str, quote: u8) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    loop {
        // Both bytes are ASCII, so `j` is on a character boundary.
        let j = i + memchr::memchr2(quote, b'\\', &bytes[i..])?;
        out.push_str(&s[i..j]);
        if bytes[j] == quote {
            return Some(out);
        }
        let mut rest = s[j + 1..].chars();
        match rest.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'x' => out.push(hex_char(&mut rest, 2)?),
            'u' => out.push(hex_char(&mut rest, 4)?),
            'U' => out.push(hex_char(&mut rest, 8)?),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
        i = s.len() - rest.as_str().len();
    }
}

fn hex_char(chars: &mut std::str::Chars, n: usize) -> Option<char> {
    let digits: String = chars.take(n).collect();
    char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_wrapped_browse_outputs() {
        let wrapped = "Document 5:\n{'docid': '5', 'text': 'Title\\nBody with \\'quotes\\' and \\u00e9.'}";
        assert_eq!(clean_browse_text(wrapped), "Title\nBody with 'quotes' and é.");
        let double = "Document 6:\n{'docid': '6', 'text': \"It's here\"}";
        assert_eq!(clean_browse_text(double), "It's here");
        assert_eq!(clean_browse_text("Document 7:\nPlain text\n"), "Plain text");
        assert_eq!(clean_browse_text("just text"), "just text");
        let dense = "Document 8:\n{'docid': '8', 'text': 'Dvořák\\'s \\\\ \\x41\\u00e9\\q'}";
        assert_eq!(clean_browse_text(dense), "Dvořák's \\ Aé\\q");
        // An unterminated literal is left as it is.
        let open = "{'docid': '9', 'text': 'no end";
        assert_eq!(clean_browse_text(open), open);
    }
}
