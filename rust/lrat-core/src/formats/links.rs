//! Matching browses to the search results they opened when the log names a page differently from
//! the result list: by URL where results are keyed by URL (`http` or `https`, with or without `www.`,
//! a trailing `/` or a `#fragment`), and by title where results are keyed by, or carry, a title (case,
//! spacing and punctuation aside; a Wikipedia-style URL's last path segment is read as a title).
//! A matched browse takes the key of the result it opened; its call's argument stays in the step text.

use std::collections::{HashMap, HashSet};

use crate::model::{StepKind, Trajectory};

/// Gives each browse whose document is not a shown result's key the key of the shown result (shown
/// before the browse) that it names by URL or title.
pub fn match_browses_to_hits(t: &mut Trajectory) {
    if !has_unmatched_browse(t) {
        return;
    }
    let mut keys: HashMap<String, String> = HashMap::new();
    let mut exact: HashSet<String> = HashSet::new();
    for step in &mut t.steps {
        match step.kind {
            StepKind::Search => {
                for hit in &step.hits {
                    let key = hit.doc_key.as_str();
                    exact.insert(key.to_string());
                    for form in forms(key).into_iter().chain(hit.title.as_deref().map(title_form)) {
                        if !form.is_empty() {
                            keys.entry(form).or_insert_with(|| key.to_string());
                        }
                    }
                }
            }
            StepKind::Browse => {
                let Some(record) = step.browse.as_mut() else { continue };
                let Some(target) = record.doc_key.as_deref() else { continue };
                if exact.contains(target) {
                    continue;
                }
                if let Some(key) = forms(target).iter().find_map(|f| keys.get(f)) {
                    record.doc_key = Some(key.clone());
                }
            }
            _ => {}
        }
    }
}

/// Whether a browse names a document that no earlier result list shows under that key: the common
/// case, where every browse opens a shown key, costs one set of borrowed keys and no allocation of text.
fn has_unmatched_browse(t: &Trajectory) -> bool {
    if !t.steps.iter().any(|s| !s.hits.is_empty()) {
        return false;
    }
    let mut shown: HashSet<&str> = HashSet::new();
    for step in &t.steps {
        match step.kind {
            StepKind::Search => shown.extend(step.hits.iter().map(|h| h.doc_key.as_str())),
            StepKind::Browse => {
                if let Some(key) = step.browse.as_ref().and_then(|b| b.doc_key.as_deref()) {
                    if !shown.contains(key) {
                        return true;
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// The forms a key is looked up by: its URL form when it is a URL, and its title form (the last path
/// segment's, for a URL).
fn forms(key: &str) -> Vec<String> {
    match url_form(key) {
        Some((url, last_segment)) => {
            let mut out = vec![url];
            if let Some(segment) = last_segment {
                out.push(title_form(&segment));
            }
            out
        }
        None => vec![title_form(key)],
    }
}

/// `https://www.Example.org/a/b/#x` → ("url:example.org/a/b", Some("b")).
fn url_form(key: &str) -> Option<(String, Option<String>)> {
    let k = key.trim();
    let rest = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .or_else(|| k.starts_with("www.").then_some(k))?;
    let rest = rest.split('#').next().unwrap_or(rest);
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.trim_end_matches('/');
    let form = format!("url:{}/{}", host.to_ascii_lowercase(), path);
    let segment = path
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty() && !s.contains('?'))
        .map(|s| percent_decode(s).replace('_', " "));
    Some((form, segment))
}

/// Lower-case words of letters and digits, one space apart.
pub(super) fn title_form(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    for word in title.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    if out.is_empty() {
        out
    } else {
        format!("title:{out}")
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BrowseRecord, SearchHit, SharedText, Step};

    fn hit(key: &str, title: Option<&str>) -> SearchHit {
        SearchHit { doc_key: key.into(), title: title.map(SharedText::from), snippet: None, score: None }
    }

    fn browse(target: &str) -> Step {
        Step::browse(None, target, BrowseRecord::new(Some(target.to_string()), true, None))
    }

    fn keys_after(steps: Vec<Step>) -> Vec<String> {
        let mut t = Trajectory::of_steps(steps);
        match_browses_to_hits(&mut t);
        t.steps.iter().filter_map(|s| s.browse.as_ref()?.doc_key.clone()).collect()
    }

    #[test]
    fn browses_by_url_or_title_take_the_shown_key() {
        let steps = vec![
            browse("Early"),
            Step::search(
                None,
                "q",
                vec![
                    hit("https://en.wikipedia.org/wiki/Milhouse_Van_Houten", Some("Milhouse Van Houten - Wikipedia")),
                    hit("https://a.example/page/", Some("Alpha Page")),
                    hit("Gamma (band)", Some("Gamma (band)")),
                ],
            ),
            browse("http://www.a.example/page#top"),
            browse("alpha page"),
            browse("https://en.wikipedia.org/wiki/Gamma_%28band%29"),
            browse("Milhouse Van Houten"),
            browse("https://a.example/page/"),
            browse("Unknown page"),
        ];
        assert_eq!(
            keys_after(steps),
            [
                "Early",
                "https://a.example/page/",
                "https://a.example/page/",
                "Gamma (band)",
                "https://en.wikipedia.org/wiki/Milhouse_Van_Houten",
                "https://a.example/page/",
                "Unknown page",
            ]
        );
    }

    #[test]
    fn forms_of_keys() {
        assert_eq!(url_form("https://www.Ex.org/a/b/#x"), Some(("url:ex.org/a/b".into(), Some("b".into()))));
        assert_eq!(url_form("plain title"), None);
        assert_eq!(title_form("  The  Oberoi-Group! "), "title:the oberoi group");
        assert_eq!(title_form("!!"), "");
    }
}
