//! Document texts found inside trajectories: the full text a browse returned, else the snippets
//! the agent saw in result lists.

use std::collections::HashMap;

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

#[derive(Debug, Clone, PartialEq)]
pub struct DocumentText {
    pub key: String,
    pub title: Option<String>,
    pub text: String,
    pub source: TextSource,
}

/// The best text of every document the trajectories show: a successful browse's output (cleaned
/// of its `Document <id>:` header and of a `{'docid': …, 'text': …}` wrapper), else the longest snippet.
pub fn document_texts(trajectories: &[Trajectory]) -> Vec<DocumentText> {
    let mut best: HashMap<&str, DocumentText> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for t in trajectories {
        for step in &t.steps {
            match step.kind {
                StepKind::Search => {
                    for hit in &step.hits {
                        let Some(snippet) = hit.snippet.as_deref().filter(|s| !s.trim().is_empty()) else { continue };
                        let candidate = DocumentText {
                            key: hit.doc_key.clone(),
                            title: hit.title.clone(),
                            text: snippet.trim().to_string(),
                            source: TextSource::Snippet,
                        };
                        upsert(&mut best, &mut order, &hit.doc_key, candidate);
                    }
                }
                StepKind::Browse => {
                    let Some(b) = step.browse.as_ref() else { continue };
                    let (Some(key), Some(content), true) = (b.doc_key.as_deref(), b.content.as_deref(), b.ok) else { continue };
                    let text = clean_browse_text(content);
                    if text.trim().is_empty() {
                        continue;
                    }
                    let title = best.get(key).and_then(|d| d.title.clone());
                    upsert(&mut best, &mut order, key, DocumentText { key: key.to_string(), title, text, source: TextSource::Browse });
                }
                _ => {}
            }
        }
    }
    order.into_iter().filter_map(|k| best.remove(k)).collect()
}

fn upsert<'t>(best: &mut HashMap<&'t str, DocumentText>, order: &mut Vec<&'t str>, key: &'t str, candidate: DocumentText) {
    match best.get_mut(key) {
        None => {
            order.push(key);
            best.insert(key, candidate);
        }
        Some(current) => {
            let better = candidate.source < current.source
                || (candidate.source == current.source && candidate.text.len() > current.text.len());
            if better {
                let title = candidate.title.clone().or_else(|| current.title.clone());
                *current = DocumentText { title, ..candidate };
            }
        }
    }
}

/// The document text inside a browse output.
pub fn clean_browse_text(content: &str) -> String {
    let mut body = content.trim_start();
    if let Some(rest) = body.strip_prefix("Document ") {
        if let Some((id, after)) = rest.split_once(':') {
            if !id.trim().is_empty() && !id.trim().contains(char::is_whitespace) {
                body = after.trim_start();
            }
        }
    }
    if body.starts_with('{') {
        for (marker, quote) in [("'text': '", '\''), ("'text': \"", '"'), ("\"text\": \"", '"')] {
            if let Some(at) = body.find(marker) {
                if let Some(text) = read_quoted(&body[at + marker.len()..], quote) {
                    return text;
                }
            }
        }
    }
    body.trim_end().to_string()
}

/// Reads a Python / JSON string literal body up to its closing `quote`, resolving escapes.
fn read_quoted(s: &str, quote: char) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == quote {
            return Some(out);
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'x' => out.push(hex_char(&mut chars, 2)?),
            'u' => out.push(hex_char(&mut chars, 4)?),
            'U' => out.push(hex_char(&mut chars, 8)?),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    None
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
    }
}
