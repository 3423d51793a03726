//! Magentic-One's WebSurfer turns: a browser action in words, then the page it left the browser on.
//!
//! ```text
//! I typed 'clownfish nonnative USGS' into the browser search bar.
//!
//! The web browser is open to the page [clownfish nonnative USGS - Search](https://www.bing.com/search?q=…).
//! The viewport shows 38% of the webpage, and is positioned at the top of the page
//! The following text is visible in the viewport:
//! …
//! ```
//!
//! (`Here is a screenshot of [title](url)` and `Automatic OCR of the page screenshot has detected the
//! following text:` in older versions.) Typing into a field is a search for the typed text; on a search
//! engine's result page the results are read from the visible text, where each one is a breadcrumb line
//! (`https://www.usgs.gov › … › page`) between the site's name and the result's title. The breadcrumbs
//! are cut, so a result is keyed by its title. Clicking opens a page: a browse, keyed by the result it
//! names when its label or the page's title is one a result showed, else by the page's URL.

use super::links::title_form;
use crate::model::{SearchHit, SharedText};

/// What the surfer did in one turn.
#[derive(Debug, PartialEq)]
pub enum Action<'t> {
    /// Typed text into a field (named as the surfer names it), landing on `page`.
    Typed { text: &'t str, field: &'t str, page: Page<'t> },
    /// Clicked a link or button with this label, landing on `page`.
    Clicked { label: &'t str, page: Page<'t> },
    /// Anything else (scrolling, hovering, reading) on `page`.
    Other { page: Page<'t> },
}

#[derive(Debug, PartialEq, Clone, Copy)]
pub struct Page<'t> {
    pub title: &'t str,
    pub url: &'t str,
}

const PAGE_MARKERS: &[&str] = &["The web browser is open to the page [", "Here is a screenshot of ["];
const TEXT_MARKERS: &[&str] = &[
    "The following text is visible in the viewport:",
    "Automatic OCR of the page screenshot has detected the following text:",
];

/// Whether a turn is a WebSurfer's report of an action and the page it led to.
pub fn is_surfer_turn(text: &str) -> bool {
    text.starts_with("I ") && page(text).is_some()
}

pub fn action(text: &str) -> Option<Action<'_>> {
    if !text.starts_with("I ") {
        return None;
    }
    let page = page(text)?;
    let first = text.lines().next().unwrap_or("");
    let quoted = |prefix: &str| {
        let rest = first.strip_prefix(prefix)?;
        let end = rest.find("' into ").or_else(|| rest.rfind('\''))?;
        Some(&rest[..end])
    };
    Some(if let Some(text) = quoted("I typed '") {
        let field = first["I typed '".len() + text.len()..].strip_prefix("' into ").unwrap_or("");
        let field = field.trim_end().trim_end_matches('.').trim_matches('\'');
        Action::Typed { text, field, page }
    } else if let Some(label) = quoted("I clicked '") {
        Action::Clicked { label, page }
    } else {
        Action::Other { page }
    })
}

/// The page named after one of `PAGE_MARKERS`: `[title](url)`.
fn page(text: &str) -> Option<Page<'_>> {
    let (at, marker) = PAGE_MARKERS.iter().find_map(|m| text.find(m).map(|at| (at, *m)))?;
    let rest = &text[at + marker.len()..];
    let close = rest.find("](")?;
    let url_part = &rest[close + 2..];
    let end = url_part.find(").").or_else(|| url_part.find(')'))?;
    let url = url_part[..end].trim();
    (url.starts_with("http") && !url.contains(char::is_whitespace)).then_some(Page { title: rest[..close].trim(), url })
}

/// Whether typing into `field` ran a search: a field named as a search box, or a landing page that is a
/// search engine's or a site's search (`…/search?keywords=…`), not a form filled in (`Starting point`).
pub fn is_search(field: &str, page: &Page) -> bool {
    let lower = |s: &str| s.to_ascii_lowercase();
    is_results_page(page.url) || lower(field).contains("search") || lower(page.url).contains("search")
}

/// Whether a URL is a web search engine's result page.
pub fn is_results_page(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.to_ascii_lowercase();
    let engine = ["bing.com", "google.", "duckduckgo.com", "search.yahoo.com", "search.brave.com"]
        .iter()
        .any(|e| host == e.trim_end_matches('.') || host.contains(&format!(".{e}")) || host.starts_with(e));
    engine && (path.starts_with("search") || path.starts_with("html") || path.starts_with('?'))
}

/// The results shown in a result page's visible text: each breadcrumb line with the site's name
/// before it and the title after it.
pub fn visible_results(text: &str) -> Vec<SearchHit> {
    let Some(start) = TEXT_MARKERS.iter().find_map(|m| text.find(m).map(|at| at + m.len())) else {
        return Vec::new();
    };
    let visible = &text[start..];
    let visible = &visible[..visible.find("The following metadata was extracted").unwrap_or(visible.len())];
    let lines: Vec<&str> = visible.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut hits = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let is_breadcrumb = (line.starts_with("https://") || line.starts_with("http://") || line.starts_with("www."))
            && (line.contains(" › ") || !line.contains(' '));
        if !is_breadcrumb || i == 0 || i + 1 >= lines.len() {
            continue;
        }
        let title = lines[i + 1];
        if title.starts_with("http") || title_form(title).is_empty() {
            continue;
        }
        hits.push(SearchHit {
            doc_key: SharedText::from(title),
            title: Some(SharedText::from(lines[i - 1])),
            snippet: lines.get(i + 2).filter(|s| !s.starts_with("http")).map(|s| SharedText::from(*s)),
            score: None,
        });
    }
    hits
}

/// The key of the shown result that a click label or a page title names: one whose site's name or
/// title it equals, else (three words or more) one whose title it starts or is started by.
pub fn shown_result(names: &[&str], shown: &[SearchHit]) -> Option<SharedText> {
    let forms: Vec<(String, String)> = shown
        .iter()
        .map(|hit| (title_form(&hit.doc_key), hit.title.as_deref().map(title_form).unwrap_or_default()))
        .collect();
    let names: Vec<String> = names.iter().map(|n| title_form(n)).filter(|n| !n.is_empty()).collect();
    let exact = names.iter().find_map(|name| forms.iter().position(|(title, site)| name == title || name == site));
    let prefix = || {
        names.iter().find_map(|name| {
            let words: Vec<&str> = name.split(' ').collect();
            forms.iter().position(|(title, _)| {
                let title: Vec<&str> = title.split(' ').collect();
                let mut common = words.iter().zip(&title).take_while(|(a, b)| a == b).count();
                // The name's last word may run into the snippet on the result page (`TowerJan 5, 2024`).
                if common + 1 == words.len() && title.get(common).is_some_and(|w| w.starts_with(words[common])) {
                    common += 1;
                }
                common >= 4 || (words.len() >= 3 && common == words.len())
            })
        })
    };
    exact.or_else(prefix).map(|i| shown[i].doc_key.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEARCH: &str = "I typed 'clownfish USGS zip codes' into the browser search bar.\n\nThe web browser is open to the page [clownfish USGS zip codes - Search](https://www.bing.com/search?q=clownfish+USGS&FORM=QBLH).\nThe viewport shows 38% of the webpage.\nThe following text is visible in the viewport:\n\nSkip to content\nAbout 432,000 resultsUSGS.gov\nhttps://www.usgs.gov › ... › nonindigenous-aquatic-s…\nNonindigenous Aquatic Species Database | U.S.Feb 28, 2025 · The USGS database tracks occurrence data.\nNonindigenous Aquatic Species\nhttps://nas.er.usgs.gov\nNonindigenous Aquatic SpeciesWelcome to the NAS information resource.\n\nThe following metadata was extracted from the webpage:\n\n{\"og:url\": \"https://www.bing.com\"}";

    #[test]
    fn typed_search_and_its_results() {
        let Some(Action::Typed { text, field, page }) = action(SEARCH) else { panic!() };
        assert_eq!((text, field), ("clownfish USGS zip codes", "the browser search bar"));
        assert!(is_search(field, &page));
        assert!(is_results_page(page.url));
        let hits = visible_results(SEARCH);
        let keys: Vec<_> = hits.iter().map(|h| h.doc_key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "Nonindigenous Aquatic Species Database | U.S.Feb 28, 2025 · The USGS database tracks occurrence data.",
                "Nonindigenous Aquatic SpeciesWelcome to the NAS information resource."
            ]
        );
        assert_eq!(hits[0].title.as_deref(), Some("About 432,000 resultsUSGS.gov"));
        assert_eq!(hits[1].title.as_deref(), Some("Nonindigenous Aquatic Species"));
    }

    #[test]
    fn clicks_name_the_result_they_open() {
        let shown = visible_results(SEARCH);
        let click = "I clicked 'Nonindigenous Aquatic Species'.\n\nHere is a screenshot of [Home | NAS](https://nas.er.usgs.gov/). The viewport shows 20%.";
        let Some(Action::Clicked { label, page }) = action(click) else { panic!() };
        assert_eq!(
            (label, page.url, page.title),
            ("Nonindigenous Aquatic Species", "https://nas.er.usgs.gov/", "Home | NAS")
        );
        assert!(!is_results_page(page.url));
        assert_eq!(shown_result(&[label, page.title], &shown).as_deref(), Some(shown[1].doc_key.as_str()));
        let by_title = ["USGS", "Nonindigenous Aquatic Species Database | U.S. Geological Survey"];
        assert_eq!(shown_result(&by_title, &shown).as_deref(), Some(shown[0].doc_key.as_str()));
        assert_eq!(shown_result(&["Wikipedia", "Clownfish - Wikipedia"], &shown), None);
    }

    #[test]
    fn typing_into_a_form_is_no_search() {
        let form = "I typed '831 Christian St, Philadelphia' into 'Ending Location'.\n\nHere is a screenshot of [Distance](https://www.mapdevelopers.com/distance_from_to.php).";
        let Some(Action::Typed { text, field, page }) = action(form) else { panic!() };
        assert_eq!((text, field), ("831 Christian St, Philadelphia", "Ending Location"));
        assert!(!is_search(field, &page));
        let site = "I typed 'clownfish' into 'Input'.\n\nThe web browser is open to the page [Search | USGS](https://www.usgs.gov/search?keywords=clownfish).";
        let Some(Action::Typed { field, page, .. }) = action(site) else { panic!() };
        assert!(is_search(field, &page), "a site's own search");
    }

    #[test]
    fn other_turns() {
        assert_eq!(action("I scrolled down one page in the browser.\n\nThe web browser is open to the page [A](https://a.example/x)."), Some(Action::Other { page: Page { title: "A", url: "https://a.example/x" } }));
        assert_eq!(action("I typed 'x' into the search bar."), None, "no page");
        assert_eq!(action("We typed 'x'.\nThe web browser is open to the page [A](https://a.example)."), None);
        assert!(is_results_page("https://www.google.com/search?q=x"));
        assert!(is_results_page("https://duckduckgo.com/?q=x"));
        assert!(!is_results_page("https://www.usgs.gov/search?keywords=x"));
        assert!(!is_results_page("https://googleblog.example/search"));
    }
}
