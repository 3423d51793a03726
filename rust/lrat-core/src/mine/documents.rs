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

/// A document's text as a trajectory offers it; it borrows from the trajectory unless cleaning
/// had to rewrite it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentText<'t> {
    pub key: &'t str,
    pub title: Option<&'t str>,
    pub text: Cow<'t, str>,
    pub source: TextSource,
}

/// A document's best text so far.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDocument {
    pub key: String,
    pub title: Option<String>,
    pub text: String,
    pub source: TextSource,
}

/// The best text of every document the trajectories show, gathered batch by batch: a
/// successful browse's output (cleaned of its `Document <id>:` header and of a
/// `{'docid': …, 'text': …}` wrapper), else the longest snippet (the first of equal length). A
/// document's title is the first title any of its texts had. Documents stay in the order they
/// first appear, and the result depends neither on where batches begin and end nor on how the
/// trajectories are split among stores whose tables are merged by the same rules in order
/// (`lrat.ray`).
#[derive(Debug, Default)]
pub struct DocumentStore {
    at: FxHashMap<String, usize>,
    documents: Vec<StoredDocument>,
}

impl DocumentStore {
    /// Offers every text of `trajectories`, in order; the cleaning runs on the pool.
    pub fn add(&mut self, trajectories: &[Trajectory]) {
        let candidates: Vec<Vec<DocumentText>> =
            crate::pool::pool().install(|| trajectories.par_iter().map(trajectory_texts).collect());
        for candidate in candidates.into_iter().flatten() {
            self.offer(candidate);
        }
    }

    fn offer(&mut self, candidate: DocumentText) {
        let Some(&i) = self.at.get(candidate.key) else {
            self.at.insert(candidate.key.to_string(), self.documents.len());
            self.documents.push(StoredDocument {
                key: candidate.key.to_string(),
                title: candidate.title.map(str::to_string),
                text: candidate.text.into_owned(),
                source: candidate.source,
            });
            return;
        };
        let current = &mut self.documents[i];
        if current.title.is_none() {
            current.title = candidate.title.map(str::to_string);
        }
        let better = candidate.source < current.source
            || (candidate.source == current.source && candidate.text.len() > current.text.len());
        if better {
            current.text = candidate.text.into_owned();
            current.source = candidate.source;
        }
    }

    pub fn documents(&self) -> &[StoredDocument] {
        &self.documents
    }

    pub fn len(&self) -> usize {
        self.documents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }
}

/// Every text one trajectory offers, in step order.
fn trajectory_texts(t: &Trajectory) -> Vec<DocumentText<'_>> {
    let mut out = Vec::new();
    for step in &t.steps {
        match step.kind {
            StepKind::Search => {
                for hit in &step.hits {
                    // Snippets come trimmed; this reads no byte of the text, only its length.
                    let Some(snippet) = hit.snippet.as_deref().filter(|s| !s.is_empty()) else { continue };
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
                let (Some(key), Some(content), true) = (b.doc_key.as_deref(), b.content.as_deref(), b.ok) else {
                    continue;
                };
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
    use crate::model::{BrowseRecord, SearchHit, Step};

    fn hit(key: &str, title: Option<&str>, snippet: &str) -> SearchHit {
        SearchHit { doc_key: key.into(), title: title.map(Into::into), snippet: Some(snippet.into()), score: None }
    }

    fn browse(key: &str, content: &str) -> Step {
        Step::browse(None, key, BrowseRecord::new(Some(key.into()), true, Some(content.into())))
    }

    #[test]
    fn browse_text_wins_keeps_the_title_and_does_not_depend_on_batches() {
        let trajectories = vec![
            Trajectory::of_steps(vec![Step::search(
                None,
                "q",
                vec![hit("a", Some("A"), "short"), hit("b", None, "b snippet")],
            )]),
            Trajectory::of_steps(vec![
                Step::search(None, "q", vec![hit("a", None, "a longer snippet")]),
                browse("a", "Document a:\nfull text\n"),
            ]),
            Trajectory::of_steps(vec![Step::search(None, "q", vec![hit("b", Some("B"), "b, a longer snippet")])]),
        ];
        let mut whole = DocumentStore::default();
        whole.add(&trajectories);
        let mut split = DocumentStore::default();
        for t in trajectories.chunks(1) {
            split.add(t);
        }
        assert_eq!(whole.documents(), split.documents());
        let docs = whole.documents();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            (docs[0].key.as_str(), docs[0].title.as_deref(), docs[0].text.as_str(), docs[0].source),
            ("a", Some("A"), "full text", TextSource::Browse)
        );
        assert_eq!(
            (docs[1].key.as_str(), docs[1].title.as_deref(), docs[1].text.as_str(), docs[1].source),
            ("b", Some("B"), "b, a longer snippet", TextSource::Snippet)
        );
    }

    #[test]
    fn the_first_title_stays_when_a_better_text_names_the_document_otherwise() {
        let trajectories = vec![
            Trajectory::of_steps(vec![Step::search(None, "q", vec![hit("a", None, "s")])]),
            Trajectory::of_steps(vec![Step::search(None, "q", vec![hit("a", Some("First"), "sn")])]),
            Trajectory::of_steps(vec![Step::search(None, "q", vec![hit("a", Some("Second"), "a longer snippet")])]),
        ];
        let mut store = DocumentStore::default();
        store.add(&trajectories);
        let doc = &store.documents()[0];
        assert_eq!((doc.title.as_deref(), doc.text.as_str()), (Some("First"), "a longer snippet"));
    }

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
