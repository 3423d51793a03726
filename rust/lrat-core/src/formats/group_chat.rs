//! Multi-agent group chats without native tool calls: a list of turns `{name | agent_name | sender,
//! content}` (a `role` may be there too), as the Who&When and Aegis benchmarks record AutoGen /
//! CaptainAgent and smolagents teams.
//!
//! - AutoGen's web surfer shows what it did in its turns: a `A Bing search for '<q>' found N results:`
//!   header (any engine) opens one search, its results the markdown list that follows; a turn opening
//!   with `Address: <url>` is the page it read.
//! - Magentic-One's WebSurfer reports an action and the page it led to (see `web_surfer`): typing is a
//!   search, clicking a browse.
//! - smolagents writes `Calling tools:\n[{'id': …, 'function': {'name': …, 'arguments': …}}]` and
//!   answers in the next turn (`Observation:\n…`, or `Call id: …\nError: …`). A managed agent's reply
//!   carries that agent's own turns in `<summary_of_work>`, read in place. Contents may be Python
//!   literals of text parts (`"[{'type': 'text', 'text': …}]"`).
//!
//! Every other turn is reasoning; system turns and `TERMINATE` are dropped. The question is the
//! record's `question` field, else the first turn.

use std::borrow::Cow;

use super::common::{browse_text_status, content_text, parse_search_text_in, read_record_fields, tool_call_steps};
use super::web_surfer::{self, Action};
use super::{python_literal, Ctx, MESSAGE_KEYS};
use crate::json::Json;
use crate::model::{BrowseRecord, Format, SearchHit, SharedText, Step, Trajectory};

/// Fields that name a turn's speaker.
const SPEAKER_KEYS: &[&str] = &["agent_name", "name", "sender", "speaker"];

/// A managed agent's memory nests this deep at most; deeper summaries are kept as text.
const MAX_NESTING: usize = 4;

/// The turns of a record: a list of objects that each have `content`, bare or under one of
/// `MESSAGE_KEYS`.
pub fn turns_of<'v, 'a>(v: &'v Json<'a>) -> Option<&'v [Json<'a>]> {
    let list = match v {
        Json::Array(items) => items.as_slice(),
        Json::Object(_) => MESSAGE_KEYS.iter().find_map(|k| v.get(k).and_then(Json::as_array))?,
        _ => return None,
    };
    (!list.is_empty() && list.iter().all(|m| matches!(m, Json::Object(_)) && m.get("content").is_some()))
        .then_some(list)
}

/// Whether every turn names its speaker (`agent_name`, `name`, `sender`, `speaker`): a group chat even
/// when no turn shows an action.
pub fn all_name_speakers(turns: &[Json]) -> bool {
    turns.iter().all(|m| SPEAKER_KEYS.iter().any(|k| m.get(k).and_then(Json::as_str).is_some()))
}

/// Whether a turn shows a web search's results under a search header, or calls tools in smolagents'
/// text form.
pub fn shows_agent_actions(turns: &[Json]) -> bool {
    turns.iter().any(|m| {
        m.get("content").and_then(content_text).is_some_and(|t| {
            t.contains("Calling tools:\n[")
                || t.contains("Calling tools:\\n[")
                || web_surfer::is_surfer_turn(&t)
                || t.lines().any(|l| search_header(l).is_some())
        })
    })
}

/// A tool call waiting for its output: the name, and the arguments as text (JSON, or the raw string).
struct Call {
    name: String,
    arguments: String,
}

/// What reading a list of turns carries from one turn to the next.
#[derive(Default)]
struct Turns {
    /// smolagents calls waiting for their observation.
    pending: Vec<Call>,
    /// The results of the WebSurfer's last search, which its clicks may name.
    shown: Vec<SearchHit>,
}

pub fn parse(v: &Json, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let turns = turns_of(v).ok_or("no turns: expected a list of objects with `content`")?;
    let mut t = ctx.trajectory(Format::GroupChat);
    let mut first_turn = None;
    let mut state = Turns::default();
    for (i, m) in turns.iter().enumerate() {
        if is_system(m) {
            continue;
        }
        let content = m.field("content");
        let text = match literal_parts(content) {
            Some(text) => SharedText::from(text),
            None => match ctx.content(content) {
                Some(text) => text,
                None if content.is_null() => continue,
                None => return Err(format!("turn {i}: `content` is {}, expected text", content.type_name())),
            },
        };
        let body = text.trim();
        if first_turn.is_none() {
            first_turn = Some(body.to_string());
        }
        read_turn(body, &mut state, 0, &mut t, ctx);
    }
    answer_calls(&mut state.pending, None, 0, &mut t, ctx);
    read_record_fields(v, MESSAGE_KEYS, &mut t)?;
    if t.question.is_none() {
        t.question = first_turn.filter(|q| !q.is_empty());
    }
    Ok(t)
}

fn is_system(m: &Json) -> bool {
    std::iter::once(&"role")
        .chain(SPEAKER_KEYS)
        .any(|k| m.get(k).and_then(Json::as_str).is_some_and(|r| r.trim().eq_ignore_ascii_case("system")))
}

/// The text of content written as a Python literal of text parts (`"[{'type': 'text', 'text': …}]"`).
/// smolagents cuts long observations in the middle of that literal, so a part that does not parse is
/// read leniently: its text runs from the opening quote to the closing `'}]` when there is one.
fn literal_parts(content: &Json) -> Option<String> {
    let text = content.as_str()?;
    if !(text.trim_start().starts_with("[{") && python_literal::looks_like(text)) {
        return None;
    }
    match python_literal::parse(text) {
        Ok(value) => content_text(&value),
        Err(_) => cut_text_part(text),
    }
}

fn cut_text_part(text: &str) -> Option<String> {
    let t = text.trim();
    let rest =
        t.strip_prefix("[{'type': 'text', 'text': ").or_else(|| t.strip_prefix("[{\"type\": \"text\", \"text\": "))?;
    let body = rest.strip_prefix(['\'', '"'])?;
    let body = body.strip_suffix("}]").and_then(|b| b.strip_suffix(['\'', '"'])).unwrap_or(body);
    Some(unescape(body))
}

/// Python string escapes undone where they are whole (`\n`, `\t`, `\'`, `\"`, `\\`); others kept.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(q @ ('\'' | '"' | '\\')) => out.push(q),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn read_turn(body: &str, state: &mut Turns, depth: usize, t: &mut Trajectory, ctx: &mut Ctx) {
    if body.is_empty() || body == "TERMINATE" {
        return;
    }
    if let Some(list) = body.strip_prefix("Calling tools:") {
        answer_calls(&mut state.pending, None, depth, t, ctx);
        match read_calls(list) {
            Some(calls) => state.pending = calls,
            None => t.steps.push(Step::tool(None, ctx.shared(body))),
        }
        return;
    }
    if !state.pending.is_empty() && (body.starts_with("Observation:") || body.starts_with("Call id:")) {
        let output = body.strip_prefix("Observation:").unwrap_or(body).trim();
        answer_calls(&mut state.pending, Some(output), depth, t, ctx);
        if depth < MAX_NESTING {
            let mut nested = Turns::default();
            for turn in managed_agent_turns(output) {
                read_turn(turn.trim(), &mut nested, depth + 1, t, ctx);
            }
            answer_calls(&mut nested.pending, None, depth + 1, t, ctx);
        }
        return;
    }
    if let Some(action) = web_surfer::action(body) {
        surfer_step(action, body, &mut state.shown, t, ctx);
        return;
    }
    let searches = search_blocks(body);
    if !searches.is_empty() {
        for (query, block) in searches {
            let hits = parse_search_text_in(block, ctx.texts.as_ref());
            t.steps.push(Step::search(None, ctx.shared(query), hits));
        }
    } else if let Some(url) = page_address(body) {
        let (_, ok) = browse_text_status(body);
        let record = BrowseRecord::new(Some(url.to_string()), ok, Some(ctx.shared(body)));
        t.steps.push(Step::browse(None, url.to_string(), record));
    } else {
        t.steps.push(Step::reason(ctx.shared(body)));
    }
}

/// A WebSurfer turn as a step: typing a query is a search (with the results its page shows, on a search
/// engine), typing into a form a `type` tool step; typing a URL or clicking through to a page other than
/// a result page is a browse of that page (under the key of the shown result it names); anything else is
/// reasoning.
fn surfer_step(action: Action, body: &str, shown: &mut Vec<SearchHit>, t: &mut Trajectory, ctx: &mut Ctx) {
    let browse = |key: String, t: &mut Trajectory, ctx: &mut Ctx| {
        let record = BrowseRecord::new(Some(key.clone()), true, Some(ctx.shared(body)));
        t.steps.push(Step::browse(None, key, record));
    };
    match action {
        Action::Typed { text, page, .. } if text.starts_with("http") || text.starts_with("www.") => {
            browse(page.url.to_string(), t, ctx);
        }
        Action::Typed { text, field, page } if !web_surfer::is_search(field, &page) => {
            t.steps.push(Step::tool(Some("type".to_string()), ctx.shared(text)));
        }
        Action::Typed { text, page, .. } => {
            let hits =
                if web_surfer::is_results_page(page.url) { web_surfer::visible_results(body) } else { Vec::new() };
            shown.clone_from(&hits);
            t.steps.push(Step::search(None, ctx.shared(text), hits));
        }
        Action::Clicked { label, page } if !web_surfer::is_results_page(page.url) => {
            let key = web_surfer::shown_result(&[label, page.title], shown);
            browse(key.map_or_else(|| page.url.to_string(), |k| k.to_string()), t, ctx);
        }
        Action::Clicked { .. } | Action::Other { .. } => t.steps.push(Step::reason(ctx.shared(body))),
    }
}

/// The steps of the waiting calls, each answered by `output` (smolagents answers a turn's calls in
/// one observation).
fn answer_calls(pending: &mut Vec<Call>, output: Option<&str>, depth: usize, t: &mut Trajectory, ctx: &mut Ctx) {
    let output = output.map(|o| Json::Str(Cow::Borrowed(o)));
    for call in pending.drain(..) {
        let arguments = Json::Str(Cow::Borrowed(call.arguments.as_str()));
        if let Some(answer) = final_answer(&call) {
            // A managed agent's final answer is its report to the manager, not the team's answer.
            if depth == 0 {
                t.push_answer(answer.trim());
            } else {
                t.steps.push(Step::reason(answer.trim()));
            }
            continue;
        }
        tool_call_steps(ctx, &call.name, &arguments, output.as_ref(), &mut t.steps);
    }
}

/// The answer of a `final_answer` call (`{"answer": …}`), or of code that is one `final_answer(…)` call
/// of a string literal (smolagents' code agents).
fn final_answer(call: &Call) -> Option<String> {
    let answer = if call.name == "final_answer" {
        match Json::parse(call.arguments.trim()) {
            Ok(v @ Json::Object(_)) => v.get("answer").and_then(content_text),
            _ => Some(call.arguments.clone()),
        }
    } else {
        let code = call.arguments.trim();
        let inner = code.strip_prefix("final_answer(")?.strip_suffix(')')?.trim();
        let inner = inner.strip_prefix("answer=").unwrap_or(inner);
        python_literal::parse(inner).ok()?.as_str().map(str::to_string)
    };
    answer.filter(|a| !a.trim().is_empty())
}

/// The calls of a `Calling tools:` list (a Python literal or JSON): `{id, type, function: {name,
/// arguments}}` or `{name, arguments}`.
fn read_calls(list: &str) -> Option<Vec<Call>> {
    let value = python_literal::parse(list.trim()).ok()?;
    let calls = value.as_array()?.iter().map(|call| {
        let function = call.get("function").unwrap_or(call);
        let name = function.get("name")?.as_str()?.to_string();
        let arguments = match function.field("arguments") {
            Json::Str(s) => s.to_string(),
            Json::Null => String::new(),
            other => other.to_json_string(),
        };
        Some(Call { name, arguments })
    });
    calls.collect()
}

/// The turns a managed agent's reply carries in `<summary_of_work>`: text-part literals one after
/// another, cut at `---` lines that open a new literal.
fn managed_agent_turns(output: &str) -> Vec<String> {
    let Some(open) = output.find("<summary_of_work>") else { return Vec::new() };
    let body = &output[open + "<summary_of_work>".len()..];
    let body = &body[..body.find("</summary_of_work>").unwrap_or(body.len())];
    let body = body.trim_end().strip_suffix("---").unwrap_or(body);
    let mut starts: Vec<usize> = body.match_indices("\n---\n[{").map(|(at, _)| at + "\n---\n".len()).collect();
    starts.insert(0, 0);
    let ends = starts.iter().skip(1).map(|s| s - "\n---\n".len()).chain([body.len()]);
    starts
        .iter()
        .zip(ends)
        .filter_map(|(&start, end)| {
            let piece = body[start..end].trim();
            literal_parts(&Json::Str(Cow::Borrowed(piece))).or_else(|| (!piece.is_empty()).then(|| piece.to_string()))
        })
        .collect()
}

/// The query of a search header line: `A Bing search for 'q' found 10 results:` (any engine or
/// none, `An` too).
fn search_header(line: &str) -> Option<&str> {
    let l = line.trim();
    let at = memchr::memmem::find(l.as_bytes(), b"earch for '")?.checked_sub(1)?;
    if at > 40 || !matches!(l.as_bytes()[at], b's' | b'S') {
        return None;
    }
    let mut words = l[..at].split_whitespace();
    if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("a") || w.eq_ignore_ascii_case("an")) || words.count() > 1 {
        return None;
    }
    let rest = &l[at + "search for '".len()..];
    let end = rest.rfind("' found ")?;
    let query = rest[..end].trim();
    (!query.is_empty()).then_some(query)
}

/// Each search header of a turn with the text up to the next header, as (query, block) pairs.
fn search_blocks(text: &str) -> Vec<(&str, &str)> {
    let mut headers: Vec<(usize, &str)> = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if let Some(query) = search_header(line) {
            headers.push((at, query));
        }
        at += line.len();
    }
    let ends = headers.iter().skip(1).map(|(start, _)| *start).chain([text.len()]);
    headers.iter().zip(ends).map(|((start, query), end)| (*query, &text[*start..end])).collect()
}

/// The URL of a page view that opens with `Address: <url>` (a search engine's `Address: bing: q`
/// is no page).
fn page_address(text: &str) -> Option<&str> {
    let first = text.lines().next()?.trim();
    let address = first.strip_prefix("Address:")?.trim();
    let is_url = address.starts_with("http://") || address.starts_with("https://") || address.starts_with("www.");
    (is_url && !address.contains(char::is_whitespace)).then_some(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_headers() {
        assert_eq!(search_header("A Bing search for 'x y' found 10 results:"), Some("x y"));
        assert_eq!(search_header("  A search for 'it's here' found 1 result:"), Some("it's here"));
        assert_eq!(search_header("An Internet search for 'q' found 3 results:"), Some("q"));
        assert_eq!(search_header("I ran a Bing search for 'x' found nothing"), None);
        assert_eq!(search_header("A Bing search for 'x'"), None);
        assert_eq!(search_header("A very long winded search for 'x' found 2 results:"), None);
        assert_eq!(search_header("A search for '' found 0 results:"), None);
        assert_eq!(search_header("é search for 'x' found 1 results:"), None);
        assert_eq!(search_header("Aé research for 'x' found 1 results:"), None);
    }

    #[test]
    fn blocks_run_to_the_next_header() {
        let text = "Address: bing: a\n=====\nA Bing search for 'a' found 1 results:\n1. [A](https://a.example)\nA search for 'b' found 1 results:\n1. [B](https://b.example)";
        let blocks = search_blocks(text);
        assert_eq!(blocks.iter().map(|(q, _)| *q).collect::<Vec<_>>(), ["a", "b"]);
        assert!(blocks[0].1.ends_with("(https://a.example)\n") && blocks[1].1.ends_with("(https://b.example)"));
    }

    #[test]
    fn cut_literals_and_final_answers() {
        let cut = "[{'type': 'text', 'text': 'Observation:\\nAddress: https://x.org\\n..._truncated_...\\nit\\'s \\\\d retry\\n\"}]";
        assert!(python_literal::parse(cut).is_err());
        assert_eq!(
            literal_parts(&Json::Str(cut.into())).as_deref(),
            Some("Observation:\nAddress: https://x.org\n..._truncated_...\nit's \\d retry\n")
        );
        assert_eq!(literal_parts(&Json::Str("[{'type': 'text', 'text': 'a\\nb'}]".into())).as_deref(), Some("a\nb"));
        assert_eq!(literal_parts(&Json::Str("plain".into())), None);

        let call = |name: &str, arguments: &str| Call { name: name.into(), arguments: arguments.into() };
        assert_eq!(final_answer(&call("final_answer", r#"{"answer": "1889"}"#)).as_deref(), Some("1889"));
        assert_eq!(final_answer(&call("final_answer", "1889")).as_deref(), Some("1889"));
        assert_eq!(
            final_answer(&call("python_interpreter", "final_answer(\"It's 1889\")")).as_deref(),
            Some("It's 1889")
        );
        assert_eq!(final_answer(&call("python_interpreter", "final_answer(answer='x')")).as_deref(), Some("x"));
        assert_eq!(final_answer(&call("python_interpreter", "final_answer(x)")), None);
        assert_eq!(final_answer(&call("python_interpreter", "print(1)\nfinal_answer('x')")), None);
    }

    #[test]
    fn page_addresses() {
        assert_eq!(page_address("Address: https://x.org/a\nTitle: A"), Some("https://x.org/a"));
        assert_eq!(page_address("Address: bing: q\nTitle: q - Search"), None);
        assert_eq!(page_address("The Address: https://x.org"), None);
    }
}
