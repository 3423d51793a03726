//! Multi-agent group chats without tool calls (AutoGen / CaptainAgent, as the Who&When benchmark
//! records them): a list of turns `{name | agent_name | sender, content}` (a `role` may be there too)
//! in which a web-surfer agent's turns show what it did. A `A Bing search for '<q>' found N results:`
//! header (any engine) opens one search, its results the markdown list that follows; a turn opening
//! with `Address: <url>` is the page the surfer read. Every other turn is reasoning. The question is
//! the record's `question` field, else the first turn.

use super::common::{browse_text_status, content_text, parse_search_text_in, read_record_fields};
use super::{Ctx, MESSAGE_KEYS};
use crate::json::Json;
use crate::model::{BrowseRecord, Format, Step, Trajectory};

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

/// Whether a turn shows a web search's results under a search header.
pub fn shows_searches(turns: &[Json]) -> bool {
    turns.iter().any(|m| turn_text(m).is_some_and(|t| t.lines().any(|l| search_header(l).is_some())))
}

fn turn_text(m: &Json) -> Option<String> {
    m.get("content").and_then(content_text)
}

pub fn parse(v: &Json, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let turns = turns_of(v).ok_or("no turns: expected a list of objects with `content`")?;
    let mut t = ctx.trajectory(Format::GroupChat);
    let mut first_turn = None;
    for (i, m) in turns.iter().enumerate() {
        let content = m.field("content");
        let Some(text) = ctx.content(content) else {
            if content.is_null() {
                continue;
            }
            return Err(format!("turn {i}: `content` is {}, expected text", content.type_name()));
        };
        let body = text.trim();
        if first_turn.is_none() {
            first_turn = Some(body.to_string());
        }
        if body.is_empty() || body == "TERMINATE" {
            continue;
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
    read_record_fields(v, MESSAGE_KEYS, &mut t)?;
    if t.question.is_none() {
        t.question = first_turn.filter(|q| !q.is_empty());
    }
    Ok(t)
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
    fn page_addresses() {
        assert_eq!(page_address("Address: https://x.org/a\nTitle: A"), Some("https://x.org/a"));
        assert_eq!(page_address("Address: bing: q\nTitle: q - Search"), None);
        assert_eq!(page_address("The Address: https://x.org"), None);
    }
}
