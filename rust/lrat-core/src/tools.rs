//! Which tool names mean search and which mean browse.

/// Tool names that mean "search" when no configuration is given.
pub const DEFAULT_SEARCH_TOOLS: &[&str] = &[
    "search",
    "web_search",
    "websearch",
    "search_web",
    "google_search",
    "bing_search",
    "serper_search",
    "tavily_search",
    "brave_search",
    "duckduckgo_search",
    "wiki_search",
    "wikipedia_search",
    "local_search",
    "local_knowledge_base_retrieval",
    "knowledge_base_search",
    "retrieve",
    "retrieval",
    "search_documents",
    // MCP servers' search tools.
    "brave_web_search",
    "firecrawl_search",
    "web_search_exa",
];

/// Tool names that mean "browse" when no configuration is given.
pub const DEFAULT_BROWSE_TOOLS: &[&str] = &[
    "get_document",
    "getdocument",
    "get_doc",
    "read_document",
    "visit",
    "visit_page",
    "open",
    "open_url",
    "open_page",
    "browse",
    "browse_page",
    "fetch",
    "fetch_url",
    "fetch_page",
    "read_url",
    "read_page",
    "get_page",
    "scrape",
    "scrape_website",
    "scrape_page",
    "crawl",
    // MCP servers' page readers.
    "firecrawl_scrape",
    "tavily_extract",
    "tavily-extract",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    Search,
    Browse,
    Other,
}

/// Classifies tool names. A name matches when it equals a configured name, ignoring case, or when it
/// ends with one after a namespace separator (`browser.open`, `server-google_search`,
/// `mcp__web__search`, `tools/visit`).
#[derive(Debug, Clone)]
pub struct ToolNames {
    search: Vec<String>,
    browse: Vec<String>,
}

impl Default for ToolNames {
    fn default() -> Self {
        ToolNames::new(
            DEFAULT_SEARCH_TOOLS.iter().map(|s| s.to_string()).collect(),
            DEFAULT_BROWSE_TOOLS.iter().map(|s| s.to_string()).collect(),
        )
    }
}

const SEPARATORS: &[char] = &['.', '/', ':', '-'];

impl ToolNames {
    pub fn new(search: Vec<String>, browse: Vec<String>) -> Self {
        let norm = |v: Vec<String>| v.into_iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        ToolNames { search: norm(search), browse: norm(browse) }
    }

    pub fn search_names(&self) -> &[String] {
        &self.search
    }

    pub fn browse_names(&self) -> &[String] {
        &self.browse
    }

    pub fn classify(&self, name: &str) -> ToolKind {
        let name = name.trim().to_ascii_lowercase();
        // Exact names win over namespace suffixes, and browse names are checked first for suffixes
        // so that `search.open` is a browse.
        if self.search.contains(&name) {
            return ToolKind::Search;
        }
        if self.browse.contains(&name) {
            return ToolKind::Browse;
        }
        for candidate in namespace_suffixes(&name) {
            if self.browse.iter().any(|s| s == candidate) {
                return ToolKind::Browse;
            }
            if self.search.iter().any(|s| s == candidate) {
                return ToolKind::Search;
            }
        }
        ToolKind::Other
    }
}

/// `a.b-c__d` → `b-c__d`, `c__d`, `d`: every tail that follows a separator, longest first.
fn namespace_suffixes(name: &str) -> impl Iterator<Item = &str> {
    name.char_indices().filter_map(move |(i, c)| {
        let is_sep = SEPARATORS.contains(&c) || (c == '_' && name[i + 1..].starts_with('_'));
        if !is_sep {
            return None;
        }
        let tail = name[i + 1..].trim_start_matches(['_', '.', '/', ':', '-']);
        (!tail.is_empty()).then_some(tail)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cover_prefixed_names() {
        let t = ToolNames::default();
        assert_eq!(t.classify("search"), ToolKind::Search);
        assert_eq!(t.classify("Google_Search"), ToolKind::Search);
        assert_eq!(t.classify("server-google_search"), ToolKind::Search);
        assert_eq!(t.classify("mcp__web__search"), ToolKind::Search);
        assert_eq!(t.classify("browser.open"), ToolKind::Browse);
        assert_eq!(t.classify("get_document"), ToolKind::Browse);
        assert_eq!(t.classify("visit"), ToolKind::Browse);
        assert_eq!(t.classify("calculator"), ToolKind::Other);
        assert_eq!(t.classify("research_plan"), ToolKind::Other);
    }

    #[test]
    fn configured_names_replace_defaults() {
        let t = ToolNames::new(vec!["lookup_wiki".into()], vec!["read".into()]);
        assert_eq!(t.classify("lookup_wiki"), ToolKind::Search);
        assert_eq!(t.classify("ns.read"), ToolKind::Browse);
        assert_eq!(t.classify("search"), ToolKind::Other);
    }
}
