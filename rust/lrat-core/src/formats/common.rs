//! Extraction shared by the formats: search queries and result lists, browse targets and outputs,
//! reasoning text.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::json::Json;
use crate::model::{BrowseRecord, Outcome, SearchHit, SharedText, Step, Trajectory};
use crate::tools::ToolKind;

use super::{field_types, Ctx};

/// Reads a tool call's `arguments`, which logs store as an object or as a JSON string.
/// Returns the parsed object, or the text itself when it is not JSON.
pub enum Arguments<'a> {
    Json(Json<'a>),
    Text(&'a str),
}

pub fn read_arguments<'a>(raw: &'a Json<'a>) -> Arguments<'a> {
    match raw {
        Json::Str(s) => {
            let t = s.trim();
            if t.starts_with('{') || t.starts_with('[') {
                if let Ok(v) = Json::parse(t) {
                    return Arguments::Json(v);
                }
            }
            Arguments::Text(t)
        }
        other => Arguments::Json(other.clone()),
    }
}

impl Arguments<'_> {
    pub fn as_text(&self) -> String {
        match self {
            Arguments::Json(v) => match v {
                Json::Str(s) => s.to_string(),
                Json::Null => String::new(),
                v => v.to_json_string(),
            },
            Arguments::Text(t) => t.to_string(),
        }
    }
}

const QUERY_KEYS: &[&str] =
    &["query", "queries", "q", "search_query", "keywords", "keyword", "input", "text", "question"];
const DOC_KEYS: &[&str] = &["docid", "doc_id", "document_id", "id", "url", "urls", "link", "uri", "page", "title"];

/// The query a search ran: the first when the call carries a list.
pub fn search_query(args: &Arguments) -> Option<String> {
    match args {
        Arguments::Text(t) => (!t.is_empty()).then(|| t.to_string()),
        Arguments::Json(v) => {
            let (key, q) = match v {
                Json::Object(_) => field_types::entry(v, QUERY_KEYS)?,
                other => ("query", other),
            };
            match q {
                Json::Array(items) => items.iter().find_map(|item| field_types::argument_text(item, key)),
                other => field_types::argument_text(other, key),
            }
        }
    }
}

/// The documents a browse call names (a call may name several, as Tongyi's `visit(url=[…])` does).
pub fn browse_targets(args: &Arguments) -> Vec<String> {
    match args {
        Arguments::Text(t) => {
            let t = t.trim().trim_matches('"');
            if t.is_empty() {
                Vec::new()
            } else {
                vec![t.to_string()]
            }
        }
        Arguments::Json(v) => {
            let (key, target) = match v {
                Json::Object(_) => match field_types::entry(v, DOC_KEYS) {
                    Some(t) => t,
                    None => return Vec::new(),
                },
                other => ("docid", other),
            };
            match target {
                Json::Array(items) => items.iter().filter_map(|item| field_types::argument_text(item, key)).collect(),
                other => field_types::argument_text(other, key).into_iter().collect(),
            }
        }
    }
}

/// A string, or the first string of a list.
pub fn first_text(v: &Json) -> Option<String> {
    match v {
        Json::Array(items) => items.iter().find_map(first_text),
        other => other.as_key(),
    }
}

/// Reasoning or message content: a string, or a list of strings / `{type, text}` parts, joined.
pub fn content_text(v: &Json) -> Option<String> {
    match v {
        Json::Str(s) => Some(s.to_string()),
        Json::Array(parts) => {
            let texts: Vec<Cow<str>> = parts
                .iter()
                .filter_map(|p| match p {
                    Json::Str(s) => Some(Cow::Borrowed(s.as_ref())),
                    Json::Object(_) => {
                        p.get_any(&["text", "content", "summary", "output"]).and_then(content_text).map(Cow::Owned)
                    }
                    _ => None,
                })
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        Json::Object(_) => v.get_any(&["text", "content", "summary"]).and_then(content_text),
        Json::Null => None,
        other => other.as_key(),
    }
}

/// Parses a search tool's output into hits: a JSON list of results (or an object holding one), or
/// text with `DocID:` markers, markdown links, or `Doc N(Title: …)` passages.
pub fn parse_search_output(output: &Json) -> Vec<SearchHit> {
    parse_search_output_in(output, None)
}

/// `parse_search_output`, with snippets that are views of `owner` when they lie inside it.
fn parse_search_output_in(output: &Json, owner: Option<&SharedText>) -> Vec<SearchHit> {
    match output {
        Json::Array(items) if items.iter().any(|i| matches!(i, Json::Object(_))) => hits_from_list(items),
        Json::Object(_) => {
            for key in ["results", "organic", "hits", "documents", "docs", "items", "data"] {
                if let Some(Json::Array(items)) = output.get(key) {
                    return hits_from_list(items);
                }
            }
            output.get_any(&["text", "content", "output"]).map(parse_search_output).unwrap_or_default()
        }
        Json::Str(s) => parse_search_text_in(s, owner),
        Json::Array(_) => content_text(output).map(|t| parse_search_text(&t)).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn hits_from_list(items: &[Json]) -> Vec<SearchHit> {
    items
        .iter()
        .filter_map(|item| {
            let title = field_types::text_at(item, &["title", "name"]);
            let key = field_types::text_at(item, &["docid", "doc_id", "document_id", "id", "url", "link", "uri"])
                .or_else(|| title.clone())?;
            Some(SearchHit {
                doc_key: key.into(),
                title: title.map(SharedText::from),
                snippet: item
                    .get_any(&["snippet", "text", "content", "body", "description"])
                    .and_then(content_text)
                    .and_then(trimmed)
                    .map(SharedText::from),
                score: item.get("score").and_then(Json::as_f64),
            })
        })
        .collect()
}

/// The text without surrounding whitespace; `None` when nothing is left.
fn trimmed(text: String) -> Option<String> {
    match text.trim() {
        "" => None,
        t if t.len() == text.len() => Some(text),
        t => Some(t.to_string()),
    }
}

/// Search output as text. A JSON document in the text is read as such first.
pub fn parse_search_text(text: &str) -> Vec<SearchHit> {
    parse_search_text_in(text, None)
}

/// `parse_search_text`, with snippets that are views of `owner` when they lie inside it.
pub(super) fn parse_search_text_in(text: &str, owner: Option<&SharedText>) -> Vec<SearchHit> {
    let t = text.trim_start();
    if t.starts_with('[') || t.starts_with('{') {
        if let Ok(v) = Json::parse(t.trim_end()) {
            return parse_search_output(&v);
        }
    }
    if let Some(marker) = [&*DOCID, &*DOCID_LOWER].into_iter().find(|m| m.find(text.as_bytes()).is_some()) {
        return parse_docid_blocks(text, marker, owner);
    }
    if text.contains("Doc 1(Title:") || text.contains("Doc 1 (Title:") {
        return parse_titled_passages(text);
    }
    parse_markdown_links(text)
}

static DOCID: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("DocID:"));
static DOCID_LOWER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("docid:"));

/// `DocID:<id>\n[<title>]\n<snippet>` blocks (BrowseComp-Plus / LRAT searcher output), split at
/// `marker`.
fn parse_docid_blocks(text: &str, marker: &Finder, owner: Option<&SharedText>) -> Vec<SearchHit> {
    let parts = split_at(text, marker);
    let mut hits = Vec::with_capacity(parts.len() - 1);
    for part in parts.into_iter().skip(1) {
        let (first, rest) = split_line(part);
        let key = trim(first).trim_end_matches(',');
        if key.is_empty() {
            continue;
        }
        let rest = trim_start(rest);
        // A title is `[…]` on the line after the key.
        let title_line = rest.strip_prefix('[').map(|r| split_line(r).0);
        let (title, body) = match title_line.and_then(|line| memchr::memchr(b']', line.as_bytes())) {
            Some(close) => (Some(SharedText::within(owner, trim(&rest[1..1 + close]))), &rest[close + 2..]),
            None => (None, rest),
        };
        let snippet = trim(body);
        hits.push(SearchHit {
            doc_key: SharedText::within(owner, key),
            title,
            snippet: (!snippet.is_empty()).then(|| SharedText::within(owner, snippet)),
            score: None,
        });
    }
    hits
}

/// `str::trim`, faster where the text's ends are ASCII (as a search result's parts nearly always
/// are): `trim_ascii` leaves the vertical tab and non-ASCII whitespace, which `trim` then takes.
fn trim(text: &str) -> &str {
    let t = text.trim_ascii();
    match (t.as_bytes().first(), t.as_bytes().last()) {
        (Some(&a), Some(&z)) if a.is_ascii() && a != 0x0b && z.is_ascii() && z != 0x0b => t,
        _ => t.trim(),
    }
}

/// `str::trim_start`, as `trim` does it.
fn trim_start(text: &str) -> &str {
    let t = text.trim_ascii_start();
    match t.as_bytes().first() {
        Some(&a) if a.is_ascii() && a != 0x0b => t,
        _ => t.trim_start(),
    }
}

/// `text` cut at every match of `separator`, the matches left out (as `str::split` does).
fn split_at<'t>(text: &'t str, separator: &Finder) -> Vec<&'t str> {
    let cuts: Vec<usize> = separator.find_iter(text.as_bytes()).collect();
    let starts = std::iter::once(0).chain(cuts.iter().map(|at| at + separator.needle().len()));
    starts.zip(cuts.iter().copied().chain([text.len()])).map(|(start, end)| &text[start..end]).collect()
}

/// The first line of `text` (without its newline) and the rest.
fn split_line(text: &str) -> (&str, &str) {
    match memchr::memchr(b'\n', text.as_bytes()) {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, ""),
    }
}

/// Search-R1 style `Doc 1(Title: T) passage Doc 2(Title: U) passage`; the title is the key.
pub fn parse_titled_passages(text: &str) -> Vec<SearchHit> {
    let mut hits = Vec::new();
    let mut rest = text;
    let mut n = 1;
    loop {
        let open = [format!("Doc {n}(Title:"), format!("Doc {n} (Title:")];
        let Some((start, marker_len)) = open.iter().filter_map(|m| rest.find(m.as_str()).map(|i| (i, m.len()))).min()
        else {
            break;
        };
        let after = &rest[start + marker_len..];
        let Some(close) = title_end(after) else { break };
        let title = SharedText::from(after[..close].trim().trim_matches('"'));
        let body_and_more = &after[close + 1..];
        let next = [format!("Doc {}(Title:", n + 1), format!("Doc {} (Title:", n + 1)];
        let end = next.iter().filter_map(|m| body_and_more.find(m.as_str())).min().unwrap_or(body_and_more.len());
        let snippet = body_and_more[..end].trim();
        if !title.is_empty() {
            hits.push(SearchHit {
                doc_key: title.clone(),
                title: Some(title),
                snippet: (!snippet.is_empty()).then(|| SharedText::from(snippet)),
                score: None,
            });
        }
        rest = &body_and_more[end..];
        n += 1;
    }
    hits
}

/// The `)` that closes `(Title: …`, allowing balanced parentheses inside the title.
fn title_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            '\n' => return None,
            _ => {}
        }
    }
    None
}

/// Markdown result lists: `1. [Title](https://url)` followed by its snippet lines, keyed by URL; and
/// numbered title lists without ids, `1. [Title]` (the rest of the line and the lines after it are
/// the snippet), keyed by title.
fn parse_markdown_links(text: &str) -> Vec<SearchHit> {
    let mut hits: Vec<(SearchHit, String)> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(link) = markdown_link(l) {
            let key = link.url.unwrap_or(link.title);
            let hit = SearchHit { doc_key: key.into(), title: Some(link.title.into()), snippet: None, score: None };
            hits.push((hit, link.rest.to_string()));
        } else if let Some((_, snippet)) = hits.last_mut() {
            if !l.is_empty() && !l.starts_with("##") {
                if !snippet.is_empty() {
                    snippet.push('\n');
                }
                snippet.push_str(l);
            }
        }
    }
    hits.into_iter()
        .map(|(hit, snippet)| SearchHit { snippet: (!snippet.is_empty()).then(|| SharedText::from(snippet)), ..hit })
        .collect()
}

struct MarkdownLink<'l> {
    title: &'l str,
    url: Option<&'l str>,
    /// Text after a title without a link, on the same line.
    rest: &'l str,
}

/// `1. [Title](https://url)`, `- [Title](url)`, `[Title](url)`, or a numbered `1. [Title]` without a link.
fn markdown_link(line: &str) -> Option<MarkdownLink<'_>> {
    let start = line.find('[')?;
    let prefix = line[..start].trim();
    let numbered = !prefix.is_empty() && prefix.trim_end_matches(['.', ')']).chars().all(|c| c.is_ascii_digit());
    if !(prefix.is_empty() || numbered || prefix == "-" || prefix == "*") {
        return None;
    }
    let rest = &line[start + 1..];
    if let Some(close) = rest.find("](") {
        let url_part = &rest[close + 2..];
        if let Some(end) = link_end(url_part) {
            let url = url_part[..end].trim();
            if url.contains("://") || url.starts_with("www.") {
                return Some(MarkdownLink { title: rest[..close].trim(), url: Some(url), rest: "" });
            }
        }
    }
    // A title without a link only in a numbered list (`1.` or `1)`), which citations like `[3]` are not.
    if !numbered || prefix.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let close = rest.find(']')?;
    let title = rest[..close].trim();
    let after = rest[close + 1..].trim_start();
    if title.is_empty() || after.starts_with('(') {
        return None;
    }
    let after = after.trim_start_matches([':', '-', '\u{2013}', '\u{2014}']).trim();
    Some(MarkdownLink { title, url: None, rest: after })
}

/// The `)` that closes a markdown link's URL, passing over balanced parentheses inside it
/// (`https://en.wikipedia.org/wiki/Exposition_Universelle_(1889)`).
fn link_end(url_part: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in url_part.bytes().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' if depth == 0 => return Some(i),
            b')' => depth -= 1,
            b' ' | b'\n' => break,
            _ => {}
        }
    }
    url_part.find(')')
}

const ERROR_PREFIXES: &[&str] = &[
    "error",
    "[error",
    "failed",
    "[failed",
    "exception",
    "traceback",
    "could not",
    "cannot ",
    "unable to",
    "no document",
    "document not found",
    "not found",
    "404",
    "[visit] failed",
    "the page could not",
];

const BROWSED_ID_KEYS: &[&str] = &["docid", "doc_id", "id", "url"];

/// Reads a browse tool's output: the text, the document id it announces (`Document <id>:`), and
/// whether it is an error.
pub fn read_browse_output(output: &Json) -> (Option<String>, bool, Option<String>) {
    let text = match output {
        Json::Object(_) => {
            if output.get_any(&["error"]).is_some() {
                return (field_types::text_at(output, BROWSED_ID_KEYS), false, content_text(output.field("error")));
            }
            let key = field_types::text_at(output, BROWSED_ID_KEYS);
            let body = output.get_any(&["text", "content", "contents", "body", "markdown"]).and_then(content_text);
            return (key, body.as_deref().is_some_and(|b| !b.trim().is_empty()), body);
        }
        Json::Null => return (None, false, None),
        other => match content_text(other) {
            Some(t) => t,
            None => return (None, false, None),
        },
    };
    let (announced, ok) = browse_text_status(&text);
    (announced, ok, Some(text))
}

/// `Document <id>:` header and error detection on a browse output's text.
pub fn browse_text_status(text: &str) -> (Option<String>, bool) {
    let t = text.trim_start();
    let announced = t.strip_prefix("Document ").and_then(|r| {
        let (id, _) = r.split_once(':')?;
        let id = id.trim();
        (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_string())
    });
    let head: String = t.chars().take(40).collect::<String>().to_ascii_lowercase();
    let failed = t.is_empty() || ERROR_PREFIXES.iter().any(|p| head.starts_with(p));
    (announced, !failed)
}

/// Whether a call of an unclassified tool names a document to read: its arguments carry a `url`,
/// `urls`, `docid`, `doc_id` or `document_id`, or only an `id`.
fn names_a_document(args: &Arguments) -> bool {
    let Arguments::Json(Json::Object(fields)) = args else { return false };
    fields.iter().any(|(k, _)| matches!(k.as_ref(), "url" | "urls" | "docid" | "doc_id" | "document_id"))
        || (fields.len() == 1 && fields[0].0 == "id")
}

/// Message content as a tool output: a list of `{type: text, text}` parts becomes its joined text,
/// so that it is not mistaken for a JSON list of search results.
pub fn tool_output<'a>(content: &Json<'a>) -> Json<'a> {
    match content {
        Json::Array(parts)
            if !parts.is_empty()
                && parts.iter().all(|p| {
                    p.get("type")
                        .and_then(Json::as_str)
                        .is_some_and(|t| matches!(t, "text" | "input_text" | "output_text"))
                }) =>
        {
            content_text(content).map(|t| Json::Str(Cow::Owned(t))).unwrap_or(Json::Null)
        }
        other => other.clone(),
    }
}

/// Keys of the record-level fields every format reads.
const ID_KEYS: &[&str] = &["trajectory_id", "id"];
const QUERY_ID_KEYS: &[&str] = &["query_id", "question_id", "qid", "task_id", "question_idx"];
const QUESTION_KEYS: &[&str] = &["question", "query", "question_text", "problem"];
const GOLD_KEYS: &[&str] =
    &["gold_answer", "gt_answer", "ground_truth", "golden_answers", "reference_answer", "expected_answer"];
/// Fields holding the agent's own answer, read when the log's steps end without one.
const PREDICTION_KEYS: &[&str] = &["final_answer", "final_boxed_answer", "predicted_answer", "prediction", "pred"];
const OUTCOME_KEYS: &[&str] = &["status", "outcome", "success", "correct", "is_correct", "verdict", "judgement"];
/// Scores read as an outcome when no outcome field is present: a positive `reward`, an exact match of 1
/// (they stay in the metadata too).
const SCORE_OUTCOME_KEYS: &[&str] = &["reward", "em", "exact_match"];
/// Objects holding a judge's or grader's result (`{"judge": {"verdict": "correct", …}}`), read for an
/// outcome when the record states none at its top level.
const JUDGE_KEYS: &[&str] =
    &["judge", "judge_result", "judgement", "judgment", "evaluation", "eval_result", "grade", "grading"];

/// The outcome a record states: the first of `OUTCOME_KEYS` present (a status or verdict string, a
/// boolean, or, outside `status` and `outcome`, a number: nonzero is success), else a score (`reward`
/// > 0, `em` / `exact_match` = 1), else the outcome inside a judge's object (`JUDGE_KEYS`), else unknown.
pub fn record_outcome(v: &Json) -> Result<Outcome, String> {
    for key in OUTCOME_KEYS {
        match v.get(key) {
            None | Some(Json::Null) => continue,
            Some(Json::Str(s)) => return Ok(Outcome::from_status(s)),
            Some(Json::Bool(b)) => return Ok(if *b { Outcome::Completed } else { Outcome::Failed }),
            Some(Json::Object(_)) if JUDGE_KEYS.contains(key) => continue,
            // A number is a verdict (1 / 0) in `correct`-like fields; a numeric status says nothing known.
            Some(n @ (Json::Int(_) | Json::UInt(_) | Json::Float(_))) if !matches!(*key, "status" | "outcome") => {
                let x = n.as_f64().unwrap_or(0.0);
                return Ok(if x != 0.0 { Outcome::Completed } else { Outcome::Failed });
            }
            Some(other) => return Err(format!("field `{key}` is {}, expected a string or boolean", other.type_name())),
        }
    }
    for key in SCORE_OUTCOME_KEYS {
        let success = match v.get(key) {
            None | Some(Json::Null) => continue,
            Some(Json::Bool(b)) => *b,
            Some(n @ (Json::Int(_) | Json::UInt(_) | Json::Float(_))) => {
                let x = n.as_f64().unwrap_or(0.0);
                if *key == "reward" {
                    x > 0.0
                } else {
                    x >= 1.0
                }
            }
            Some(other) => return Err(format!("field `{key}` is {}, expected a number or boolean", other.type_name())),
        };
        return Ok(if success { Outcome::Completed } else { Outcome::Failed });
    }
    for key in JUDGE_KEYS {
        if let Some(judge @ Json::Object(_)) = v.get(key) {
            match record_outcome(judge)? {
                Outcome::Unknown => {}
                known => return Ok(known),
            }
        }
    }
    Ok(Outcome::Unknown)
}

/// Reads the record-level fields of a JSON record (`id`, `query_id`, `question`, the reference
/// answer, the outcome, the agent's answer when the steps gave none) into `t`, and the fields that are neither these nor `consumed` into its
/// metadata. `answer` is the reference answer unless a `gt_answer`-like field is present, in which
/// case it is the agent's answer and becomes `final_answer` when the log itself has none.
pub fn read_record_fields(v: &Json, consumed: &[&str], t: &mut Trajectory) -> Result<(), String> {
    let Json::Object(fields) = v else { return Ok(()) };
    if let Some(id) = field_types::text_at(v, ID_KEYS) {
        t.id = id;
    }
    t.query_id = field_types::text_at(v, QUERY_ID_KEYS).or_else(|| field_types::text_at(v, &["id"]));
    if let Some((key, q)) = field_types::entry(v, QUESTION_KEYS) {
        let question = match q {
            Json::Array(_) => content_text(q).filter(|s| !s.trim().is_empty()),
            other => answer_text(other, key),
        };
        t.question = question.map(|q| q.trim().to_string());
    }
    match field_types::entry(v, GOLD_KEYS) {
        Some((key, gold)) => {
            t.gold_answer = answer_text(gold, key);
            if t.final_answer.is_none() {
                t.final_answer = v.get("answer").and_then(|a| answer_text(a, "answer")).map(SharedText::from);
            }
        }
        None => {
            if let Some(gold) = v.get("answer").and_then(|a| answer_text(a, "answer")) {
                t.gold_answer = Some(gold);
            }
        }
    }
    let mut prediction_key = None;
    if t.final_answer.is_none() {
        let key = PREDICTION_KEYS.iter().find(|k| !consumed.contains(k) && v.get(k).and_then(Json::as_str).is_some());
        if let Some(key) = key {
            t.final_answer = v.get(key).and_then(|a| answer_text(a, key)).map(SharedText::from);
            prediction_key = Some(*key);
        }
    }
    // An outcome the log itself states (a ReAct marker line) stands unless the record's fields state one.
    match record_outcome(v)? {
        Outcome::Unknown => {}
        known => t.outcome = known,
    }
    let extra: Vec<_> = fields
        .iter()
        .filter(|(k, _)| {
            let k = k.as_ref();
            !(consumed.contains(&k)
                || ID_KEYS.contains(&k)
                || QUERY_ID_KEYS.contains(&k)
                || QUESTION_KEYS.contains(&k)
                || GOLD_KEYS.contains(&k)
                || OUTCOME_KEYS.contains(&k)
                || k == "answer"
                || Some(k) == prediction_key)
        })
        .cloned()
        .collect();
    if !extra.is_empty() {
        t.metadata = Some(Json::Object(extra).to_json_string());
    }
    Ok(())
}

/// A question or answer field: text (a number is read as its text), the first of a list of
/// accepted answers, or message content parts. Other shapes are reported as ignored.
pub fn answer_text(v: &Json, field: &str) -> Option<String> {
    let text = match v {
        Json::Array(items) => items.iter().find_map(|item| answer_text(item, field)),
        Json::Int(_) | Json::UInt(_) | Json::Float(_) | Json::Bool(_) => return field_types::text(v, field),
        other => content_text(other),
    };
    let text = text.filter(|s| !s.trim().is_empty());
    if text.is_none() && matches!(v, Json::Object(_)) {
        field_types::ignored(field, v);
    }
    text
}

/// A search called with several queries whose text output holds one result block per query, as
/// (query, block) pairs; `None` when the output does not split that way.
fn per_query_blocks<'o>(args: &Arguments, output: Option<&'o Json>) -> Option<Vec<(String, &'o str)>> {
    let Arguments::Json(v) = args else { return None };
    let list = match v {
        Json::Object(_) => v.get_any(QUERY_KEYS)?,
        other => other,
    };
    let queries: Vec<String> = list.as_array()?.iter().filter_map(|q| field_types::argument_text(q, "query")).collect();
    if queries.len() < 2 {
        return None;
    }
    let blocks = query_blocks(output?.as_str()?);
    (blocks.len() == queries.len()).then(|| queries.into_iter().zip(blocks).collect())
}

/// The result blocks of a multi-query search's output, cut at separator lines: a line of five or more
/// `=` (Tongyi DeepResearch) or `-` (S1-DeepResearch), and nothing else.
fn query_blocks(text: &str) -> Vec<&str> {
    let is_separator = |line: &str| {
        let l = line.trim();
        l.len() >= 5 && (l.bytes().all(|b| b == b'=') || l.bytes().all(|b| b == b'-'))
    };
    let mut blocks = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if is_separator(line) {
            blocks.push(text[start..at].trim());
            start = at + line.len();
        }
        at += line.len();
    }
    blocks.push(text[start..].trim());
    blocks
}

/// Builds the steps of one tool call with its output; `None` output means it was never answered.
/// Snippets and browsed texts are views of the record's unescaped strings where they lie inside
/// them (see `Ctx::shared`).
pub fn tool_call_steps(ctx: &mut Ctx, name: &str, arguments: &Json, output: Option<&Json>, steps: &mut Vec<Step>) {
    let args = read_arguments(arguments);
    let tool = Some(name.to_string());
    let kind = match ctx.tools.classify(name) {
        ToolKind::Other if names_a_document(&args) => ToolKind::Browse,
        kind => kind,
    };
    let texts = ctx.texts.as_ref();
    match kind {
        ToolKind::Search => {
            if let Some(blocks) = per_query_blocks(&args, output) {
                for (query, block) in blocks {
                    steps.push(Step::search(tool.clone(), query, parse_search_text_in(block, texts)));
                }
                return;
            }
            let query = search_query(&args).unwrap_or_default();
            let hits = output.map(|o| parse_search_output_in(o, texts)).unwrap_or_default();
            steps.push(Step::search(tool, query, hits));
        }
        ToolKind::Browse => {
            let targets = browse_targets(&args);
            let (announced, ok, content) = match output {
                Some(Json::Str(text)) => {
                    let (announced, ok) = browse_text_status(text);
                    (announced, ok, Some(SharedText::within(texts, text)))
                }
                Some(o) => {
                    let (announced, ok, content) = read_browse_output(o);
                    (announced, ok, content.map(SharedText::from))
                }
                None => (None, false, None),
            };
            let mut record = BrowseRecord::new(None, ok, content);
            if targets.len() > 1 {
                for target in targets {
                    let record = BrowseRecord { doc_key: Some(target.clone()), ..record.clone() };
                    steps.push(Step::browse(tool.clone(), target, record));
                }
            } else {
                record.doc_key = targets.into_iter().next().or(announced);
                let text = record.doc_key.clone().unwrap_or_else(|| args.as_text());
                steps.push(Step::browse(tool, text, record));
            }
        }
        ToolKind::Other => {
            ctx.unknown_tools.push(name.to_string());
            steps.push(Step::tool(tool, args.as_text()));
        }
    }
}

/// A piece of a tagged transcript: the body of one `<tag>…</tag>`, or text between tags (`tag: None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment<'a> {
    pub tag: Option<&'static str>,
    pub body: &'a str,
}

/// Splits text at the given tags. A tag left open runs to the next opening tag or the end of the
/// text (transcripts are often cut off); a stray closing tag is dropped.
pub fn tag_segments<'a>(text: &'a str, tags: &[&'static str]) -> Vec<Segment<'a>> {
    let mut out = Vec::new();
    // Next opening position of each tag at or after the cursor, and whether a tag has no closing
    // tag left: both only move forward, which keeps the scan linear in the text.
    let mut opens: Vec<Option<usize>> = tags.iter().map(|t| find_tag(text, t, false)).collect();
    let mut unclosed = vec![false; tags.len()];
    let next_open = |opens: &mut Vec<Option<usize>>, from: usize| -> Option<(usize, usize)> {
        for (k, tag) in tags.iter().enumerate() {
            if opens[k].is_some_and(|p| p < from) {
                opens[k] = find_tag(&text[from..], tag, false).map(|i| i + from);
            }
        }
        opens.iter().enumerate().filter_map(|(k, p)| p.map(|p| (p, k))).min()
    };
    let push_text = |out: &mut Vec<Segment<'a>>, s: &'a str| {
        let mut s = s;
        for t in tags {
            let close = format!("</{t}>");
            while let Some(i) = s.find(&close) {
                let (before, after) = (&s[..i], &s[i + close.len()..]);
                if !before.trim().is_empty() {
                    out.push(Segment { tag: None, body: before });
                }
                s = after;
            }
        }
        if !s.trim().is_empty() {
            out.push(Segment { tag: None, body: s });
        }
    };
    let mut cursor = 0;
    while let Some((start, k)) = next_open(&mut opens, cursor) {
        let tag = tags[k];
        push_text(&mut out, &text[cursor..start]);
        let body_start = start + tag.len() + 2;
        let close = if unclosed[k] { None } else { find_tag(&text[body_start..], tag, true) };
        let (body_end, next) = match close {
            Some(end) => (body_start + end, body_start + end + tag.len() + 3),
            None => {
                unclosed[k] = true;
                let end = next_open(&mut opens, body_start).map_or(text.len(), |(p, _)| p);
                (end, end)
            }
        };
        out.push(Segment { tag: Some(tag), body: &text[body_start..body_end] });
        cursor = next;
    }
    push_text(&mut out, &text[cursor..]);
    out
}

fn find_tag(s: &str, tag: &str, closing: bool) -> Option<usize> {
    let mut from = 0;
    let prefix = if closing { "</" } else { "<" };
    while let Some(i) = s[from..].find(prefix) {
        let at = from + i;
        let after = &s[at + prefix.len()..];
        if after.starts_with(tag) && after[tag.len()..].starts_with('>') {
            return Some(at);
        }
        from = at + prefix.len();
    }
    None
}

/// Drops chat-template tokens (`<|im_start|>assistant`, `<|im_end|>`, `<|endoftext|>`) from text.
pub fn strip_chat_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("<|") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find("|>") {
            Some(j) if !after[..j].contains(char::is_whitespace) => {
                let token = &after[..j];
                rest = &after[j + 2..];
                if token == "im_start" {
                    let role_end = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
                    rest = &rest[role_end..];
                }
            }
            _ => {
                out.push_str("<|");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The question of a prompt: the text after its last `Question:` marker up to the end of that line
/// (the whole prompt, trimmed, when it has none).
pub fn question_in_prompt(prompt: &str) -> Option<String> {
    let prompt = strip_chat_tokens(prompt);
    let q = match prompt.rfind("Question:") {
        Some(i) => {
            let after = prompt[i + "Question:".len()..].trim_start();
            after.lines().next().unwrap_or("").trim().to_string()
        }
        None => prompt.trim().to_string(),
    };
    (!q.is_empty()).then_some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docid_blocks() {
        let text = "A search for 'x' found 2 results:\n\n## Web Results\nDocID:12\n[Title A]\nTitle A\nsnippet a\n\nDocID:34\n[B]\nsnippet b\n";
        let hits = parse_search_text(text);
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].doc_key, "12");
        assert_eq!(hits[0].title.as_deref(), Some("Title A"));
        assert_eq!(hits[0].snippet.as_deref(), Some("Title A\nsnippet a"));
        assert_eq!(hits[1].doc_key, "34");
    }

    proptest::proptest! {
        #[test]
        fn trims_as_str_trim_does(text in "[ \t\n\r\u{b}\u{c}\u{a0}\u{3000}\u{2028}a,é]{0,12}") {
            proptest::prop_assert_eq!(trim(&text), text.trim());
            proptest::prop_assert_eq!(trim_start(&text), text.trim_start());
        }
    }

    #[test]
    fn docid_block_titles_are_brackets_on_the_line_after_the_key() {
        let cases = [
            ("DocID:1\n[T]\nbody", Some("T"), Some("body")),
            ("DocID:1\n  [ T ] body", Some("T"), Some("body")),
            // `]` only on a later line: no title, the bracket stays in the snippet.
            ("DocID:1\n[not a title\nsee [2]", None, Some("[not a title\nsee [2]")),
            ("DocID:1\n[open", None, Some("[open")),
            ("DocID:1\n[]", Some(""), None),
            ("DocID:1", None, None),
            ("DocID:1,\nplain snippet", None, Some("plain snippet")),
        ];
        for (text, title, snippet) in cases {
            let hits = parse_search_text(text);
            assert_eq!(hits.len(), 1, "{text:?}");
            assert_eq!(hits[0].doc_key, "1", "{text:?}");
            assert_eq!(hits[0].title.as_deref(), title, "{text:?}");
            assert_eq!(hits[0].snippet.as_deref(), snippet, "{text:?}");
        }
    }

    #[test]
    fn per_query_blocks_split_at_every_separator() {
        let args = Arguments::Json(Json::parse(r#"{"query": ["a", "b", "c"]}"#).unwrap());
        let output = Json::Str("one\n=======\n\n=======\nthree".into());
        let blocks = per_query_blocks(&args, Some(&output)).unwrap();
        assert_eq!(blocks, [("a".to_string(), "one"), ("b".to_string(), ""), ("c".to_string(), "three")]);
        let dashes = Json::Str("one\r\n\r\n-------\r\n\r\ntwo\n  -----  \nthree\n---\nstill three".into());
        let blocks = per_query_blocks(&args, Some(&dashes)).unwrap();
        assert_eq!(blocks[1..], [("b".to_string(), "two"), ("c".to_string(), "three\n---\nstill three")]);
        let two = Json::Str("one\n=======\ntwo".into());
        assert!(per_query_blocks(&args, Some(&two)).is_none());
        let mixed = Json::Str("one\n==--==\ntwo\n====\nthree".into());
        assert!(per_query_blocks(&args, Some(&mixed)).is_none(), "neither a mixed line nor a short one cuts");
    }

    #[test]
    fn json_list_output() {
        let v = Json::parse(r#"[{"docid": 7, "score": 1.5, "snippet": " s\n"}, {"url": "https://a.b", "title": "T", "snippet": " \n"}]"#).unwrap();
        let hits = parse_search_output(&v);
        assert_eq!(hits[0].doc_key, "7");
        assert_eq!(hits[0].score, Some(1.5));
        // Snippets come trimmed, and a blank one is none.
        assert_eq!(hits[0].snippet.as_deref(), Some("s"));
        assert_eq!(hits[1].doc_key, "https://a.b");
        assert_eq!(hits[1].snippet, None);
        let as_text = Json::Str(r#"[{"docid": "9", "snippet": "s"}]"#.into());
        assert_eq!(parse_search_output(&as_text)[0].doc_key, "9");
    }

    #[test]
    fn titled_passages() {
        let hits =
            parse_titled_passages("Doc 1(Title: \"Paris (city)\") Capital of France. Doc 2(Title: Lyon) A city.");
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].doc_key, "Paris (city)");
        assert_eq!(hits[0].snippet.as_deref(), Some("Capital of France."));
        assert_eq!(hits[1].doc_key, "Lyon");
    }

    #[test]
    fn markdown_results() {
        let hits = parse_search_text(
            "## Web Results\n1. [Alpha](https://a.example/x)\nabout alpha\n2. [Beta](https://b.example)\n",
        );
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].doc_key, "https://a.example/x");
        assert_eq!(hits[0].snippet.as_deref(), Some("about alpha"));
        let hits = parse_search_text(
            "1. [Expo](https://en.wikipedia.org/wiki/Exposition_(1889)) held in Paris\n2. [Odd](https://o.example/a(b) tail)",
        );
        assert_eq!(hits[0].doc_key, "https://en.wikipedia.org/wiki/Exposition_(1889)");
        assert_eq!(hits[1].doc_key, "https://o.example/a(b", "an unbalanced link ends at its first `)`");
    }

    #[test]
    fn numbered_title_lists_without_ids() {
        let hits = parse_search_text(
            "Results for 'x':\n1. [Alpha Beta]\nabout alpha\nmore\n2. [Gamma (band)] - a band\n3) [Delta]: d\n[not numbered]\n4 [no dot]",
        );
        let got: Vec<_> = hits.iter().map(|h| (h.doc_key.as_str(), h.snippet.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("Alpha Beta", Some("about alpha\nmore")),
                ("Gamma (band)", Some("a band")),
                ("Delta", Some("d\n[not numbered]\n4 [no dot]")),
            ]
        );
        assert_eq!(hits[1].title.as_deref(), Some("Gamma (band)"));
    }

    #[test]
    fn browse_outputs() {
        assert_eq!(browse_text_status("Document 42:\nbody"), (Some("42".into()), true));
        assert!(!browse_text_status("Error: document 42 not found").1);
        assert!(!browse_text_status("").1);
        let (k, ok, _) = read_browse_output(&Json::parse(r#"{"docid": "5", "text": "hello"}"#).unwrap());
        assert_eq!((k.as_deref(), ok), (Some("5"), true));
    }

    #[test]
    fn query_and_targets() {
        let q = Json::parse(r#"{"query": ["first", "second"]}"#).unwrap();
        assert_eq!(search_query(&Arguments::Json(q)).as_deref(), Some("first"));
        let raw = Json::Str(r#"{"docid": 6053813}"#.into());
        assert_eq!(browse_targets(&read_arguments(&raw)), vec!["6053813".to_string()]);
        let urls = Json::parse(r#"{"url": ["https://a", "https://b"], "goal": "g"}"#).unwrap();
        assert_eq!(browse_targets(&Arguments::Json(urls)).len(), 2);
    }

    #[test]
    fn multi_query_search_output_splits_per_query() {
        let (tools, location) =
            (crate::ToolNames::default(), crate::Location { source: "test".into(), line: 1, byte_offset: 0 });
        let mut ctx = Ctx::new(&location, &tools);
        let mut steps = Vec::new();
        let args = Json::parse(r#"{"query": ["alpha", "beta"]}"#).unwrap();
        let output = Json::Str(
            "A Google search for 'alpha' found 1 results:\n\n## Web Results\n1. [A](https://a.example)\nabout a\n=======\nA Google search for 'beta' found 1 results:\n\n## Web Results\n1. [B](https://b.example)\nabout b".into(),
        );
        tool_call_steps(&mut ctx, "search", &args, Some(&output), &mut steps);
        let got: Vec<_> = steps.iter().map(|s| (s.text.as_str(), s.hits[0].doc_key.as_str(), s.hits.len())).collect();
        assert_eq!(got, [("alpha", "https://a.example", 1), ("beta", "https://b.example", 1)]);
        assert_eq!(steps[0].hits[0].snippet.as_deref(), Some("about a"));

        // One result block for several queries (BrowseComp-Plus runs): one step, the first query.
        steps.clear();
        let one_block = Json::Str("DocID:1\n[T]\ns".into());
        tool_call_steps(&mut ctx, "search", &args, Some(&one_block), &mut steps);
        assert_eq!((steps.len(), steps[0].text.as_str(), steps[0].hits[0].doc_key.as_str()), (1, "alpha", "1"));
    }

    #[test]
    fn tags_split_text() {
        let segs = tag_segments(
            "pre <think> a </think>mid<search>q</search></information> <answer>x",
            &["think", "search", "information", "answer"],
        );
        let got: Vec<_> = segs.iter().map(|s| (s.tag, s.body.trim())).collect();
        assert_eq!(
            got,
            [(None, "pre"), (Some("think"), "a"), (None, "mid"), (Some("search"), "q"), (Some("answer"), "x")]
        );
        let open = tag_segments("<think>cut off <search>q</search>", &["think", "search"]);
        assert_eq!(open[0].body, "cut off ");
        assert_eq!(open[1], Segment { tag: Some("search"), body: "q" });
    }

    #[test]
    fn chat_tokens_and_prompt_question() {
        assert_eq!(strip_chat_tokens("<|im_start|>user\nhi<|im_end|> a <|x y"), "\nhi a <|x y");
        assert_eq!(
            question_in_prompt("Answer it. For example <answer> Beijing </answer>. Question: who won?\n<|im_end|>")
                .as_deref(),
            Some("who won?")
        );
        assert_eq!(question_in_prompt("  plain  ").as_deref(), Some("plain"));
    }
}
