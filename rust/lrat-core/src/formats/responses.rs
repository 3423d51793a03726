//! OpenAI Responses API items: `reasoning{summary[{type: summary_text, text}], content?}`,
//! `function_call{name, arguments, call_id}`, `function_call_output{call_id, output}`,
//! `message{role, content[{type: output_text | input_text, text}]}` (plus the custom tool and built-in
//! `web_search_call` items). A record is the item list itself or an object holding it under
//! `output` / `items` / `input` / `response_items` (an `input` list is read before the `output` list),
//! or under `response`.

use super::common::{read_record_fields, tool_call_steps, tool_output};
use super::field_types;
use super::Ctx;
use crate::json::Json;
use crate::model::{BrowseRecord, Format, Step, Trajectory};

const ITEM_KEYS: &[&str] = &["input", "output", "items", "response_items"];

pub fn parse(v: &Json, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let lists = item_lists(v)?;
    let items: Vec<(String, &Json)> = lists
        .iter()
        .flat_map(|(path, list)| list.iter().enumerate().map(move |(i, item)| (format!("{path}[{i}]"), item)))
        .collect();
    let mut t = ctx.trajectory(Format::Responses);

    let mut kinds = Vec::with_capacity(items.len());
    for (at, item) in &items {
        kinds.push(item_kind(item).map_err(|e| format!("{at} {e}"))?);
    }
    let last_assistant = (0..items.len()).rev().find(|&i| kinds[i] == Kind::Message && is_assistant(items[i].1));
    let mut used = vec![false; items.len()];

    for (i, (at, item)) in items.iter().enumerate() {
        match kinds[i] {
            Kind::Reasoning => {
                let text = ["summary", "content", "text"]
                    .iter()
                    .find_map(|k| item.get(k).and_then(|c| ctx.content(c)).filter(|s| !s.trim().is_empty()));
                if let Some(text) = text {
                    t.steps.push(Step::reason(text));
                }
            }
            Kind::Message => {
                let text = item.get_any(&["content", "text"]).and_then(|c| ctx.content(c)).unwrap_or_default();
                if !is_assistant(item) {
                    if t.question.is_none() && role_of(item) == Some("user") {
                        t.question = Some(text.trim().to_string());
                    }
                } else if Some(i) == last_assistant && !text.trim().is_empty() {
                    t.push_answer(text);
                } else if !text.trim().is_empty() {
                    t.steps.push(Step::reason(text));
                }
            }
            Kind::Call { custom } => {
                let name = match item.get("name") {
                    Some(Json::Str(s)) => s.as_ref(),
                    Some(other) => return Err(format!("{at}.name is {}, expected a string", other.type_name())),
                    None => return Err(format!("{at} is a function call without `name`")),
                };
                let args_key = if custom { "input" } else { "arguments" };
                let arguments = item.field(args_key);
                if !matches!(arguments, Json::Str(_) | Json::Object(_) | Json::Null) {
                    return Err(format!("{at}.{args_key} is {}, expected a string or object", arguments.type_name()));
                }
                let output = find_output(&items, &kinds, &mut used, i, field_types::text_at(item, &["call_id"]));
                let output = output.map(|o| tool_output(items[o].1.field("output")));
                tool_call_steps(ctx, name, arguments, output.as_ref(), &mut t.steps);
            }
            Kind::Output => {}
            Kind::WebSearch => web_search_steps(item, &mut t.steps),
        }
    }

    let mut consumed: Vec<&str> = ITEM_KEYS.to_vec();
    consumed.push("response");
    if let (Json::Object(_), Some(Json::Str(q))) = (v, v.get("input")) {
        t.question = Some(q.trim().to_string());
    }
    read_record_fields(v, &consumed, &mut t)?;
    Ok(t)
}

/// The item lists of a record, each with the path that names it in errors.
fn item_lists<'v, 'a>(v: &'v Json<'a>) -> Result<Vec<(String, &'v [Json<'a>])>, String> {
    match v {
        Json::Array(items) => Ok(vec![("items".to_string(), items.as_slice())]),
        Json::Object(_) => {
            let mut lists = Vec::new();
            for key in ITEM_KEYS {
                match v.get(key) {
                    Some(Json::Array(items)) => lists.push((key.to_string(), items.as_slice())),
                    Some(Json::Null | Json::Str(_)) | None => {}
                    Some(other) => {
                        return Err(format!("field `{key}` is {}, expected a list of items", other.type_name()))
                    }
                }
            }
            if lists.is_empty() {
                if let Some(inner @ Json::Object(_)) = v.get("response") {
                    return item_lists(inner)
                        .map(|ls| ls.into_iter().map(|(p, l)| (format!("response.{p}"), l)).collect());
                }
                return Err(
                    "no item list: expected a list of items or an object with `output`, `input` or `items`".into()
                );
            }
            Ok(lists)
        }
        other => Err(format!("a Responses record must be a list of items or an object, found {}", other.type_name())),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Reasoning,
    Message,
    Call { custom: bool },
    Output,
    WebSearch,
}

fn item_kind(item: &Json) -> Result<Kind, String> {
    if !matches!(item, Json::Object(_)) {
        return Err(format!("is {}, expected an item object", item.type_name()));
    }
    match item.get("type") {
        Some(Json::Str(s)) => match s.as_ref() {
            "reasoning" => Ok(Kind::Reasoning),
            "message" => Ok(Kind::Message),
            "function_call" => Ok(Kind::Call { custom: false }),
            "custom_tool_call" => Ok(Kind::Call { custom: true }),
            "function_call_output" | "custom_tool_call_output" => Ok(Kind::Output),
            "web_search_call" => Ok(Kind::WebSearch),
            other => Err(format!("has unknown type {other:?}")),
        },
        Some(other) => Err(format!("has a `type` that is {}, expected a string", other.type_name())),
        None if item.get("role").is_some() => Ok(Kind::Message),
        None => Err("has neither `type` nor `role`".into()),
    }
}

fn role_of<'v>(item: &'v Json) -> Option<&'v str> {
    item.get("role").and_then(Json::as_str)
}

fn is_assistant(item: &Json) -> bool {
    role_of(item).is_none_or(|r| r == "assistant")
}

/// The output item answering the call at `call`: the one with its `call_id`, else the first unused
/// output after it.
fn find_output(
    items: &[(String, &Json)],
    kinds: &[Kind],
    used: &mut [bool],
    call: usize,
    call_id: Option<String>,
) -> Option<usize> {
    let is_free_output = |o: usize| kinds[o] == Kind::Output && !used[o];
    let by_id = call_id.and_then(|id| {
        (0..items.len())
            .find(|&o| is_free_output(o) && items[o].1.get("call_id").and_then(Json::as_key).as_deref() == Some(&id))
    });
    let found = by_id.or_else(|| (call + 1..items.len()).find(|&o| is_free_output(o)));
    if let Some(o) = found {
        used[o] = true;
    }
    found
}

/// The built-in web search: `action{type: search, query}` is a search whose results the log does not
/// hold; `action{type: open_page, url}` a browse.
fn web_search_steps(item: &Json, steps: &mut Vec<Step>) {
    let action = item.field("action");
    let tool = Some("web_search".to_string());
    match action.get("type").and_then(Json::as_str) {
        Some("open_page") => {
            let url = field_types::text_at(action, &["url"]);
            let ok = item.get("status").and_then(Json::as_str).is_none_or(|s| s == "completed");
            let record = BrowseRecord::new(url.clone(), ok, None);
            steps.push(Step::browse(tool, url.unwrap_or_default(), record));
        }
        Some("find_in_page" | "find") => {
            steps.push(Step::tool(tool, action.to_json_string()));
        }
        _ => {
            let query = action.get_any(&["query", "queries"]).and_then(super::common::first_text).unwrap_or_default();
            steps.push(Step::search(tool, query, Vec::new()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;
    use crate::model::StepKind;
    use crate::tools::ToolNames;

    fn parse_str(text: &str) -> Result<Trajectory, String> {
        let location = Location { source: "r.jsonl".into(), line: 1, byte_offset: 0 };
        let tools = ToolNames::default();
        let mut ctx = Ctx::new(&location, &tools);
        parse(&Json::parse(text).unwrap(), &mut ctx)
    }

    #[test]
    fn items_with_call_ids() {
        let t = parse_str(
            r#"{"id": "resp_1", "query_id": "q4", "input": [{"role": "user", "content": [{"type": "input_text", "text": "Tallest building in 2010?"}]}],
               "output": [
                 {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Need to search."}]},
                 {"type": "function_call", "name": "search", "arguments": "{\"query\": \"tallest building 2010\"}", "call_id": "c1"},
                 {"type": "function_call", "name": "get_document", "arguments": "{\"docid\": \"88\"}", "call_id": "c2"},
                 {"type": "function_call_output", "call_id": "c2", "output": "Document 88: Burj Khalifa opened in 2010."},
                 {"type": "function_call_output", "call_id": "c1", "output": "DocID:88\n[Burj Khalifa]\nopened 2010\n\nDocID:12\n[Taipei 101]\nformer tallest"},
                 {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Burj Khalifa"}]}]}"#,
        )
        .unwrap();
        assert_eq!(t.id, "resp_1");
        assert_eq!(t.query_id.as_deref(), Some("q4"));
        assert_eq!(t.question.as_deref(), Some("Tallest building in 2010?"));
        let kinds: Vec<_> = t.steps.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [StepKind::Reason, StepKind::Search, StepKind::Browse, StepKind::Answer]);
        assert_eq!(t.steps[0].text, "Need to search.");
        assert_eq!(t.steps[1].text, "tallest building 2010");
        assert_eq!(t.steps[1].hits.iter().map(|h| h.doc_key.as_str()).collect::<Vec<_>>(), ["88", "12"]);
        assert_eq!(t.steps[2].browse.as_ref().unwrap().doc_key.as_deref(), Some("88"));
        assert_eq!(t.final_answer.as_deref(), Some("Burj Khalifa"));
    }

    #[test]
    fn bare_list_without_call_ids_and_intermediate_messages() {
        let t = parse_str(
            r#"[{"type": "message", "role": "user", "content": "Q?"},
                {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "raw thought"}]},
                {"type": "function_call", "name": "web_search", "arguments": {"query": "q"}},
                {"type": "function_call_output", "output": [{"type": "input_text", "text": "1. [A](https://a.example)\nsnippet"}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Looking further."}]},
                {"type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "built-in"}},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "A"}]}]"#,
        )
        .unwrap();
        assert_eq!(t.question.as_deref(), Some("Q?"));
        assert_eq!(t.steps[0].text, "raw thought");
        assert_eq!(t.steps[1].hits[0].doc_key, "https://a.example");
        assert_eq!((t.steps[2].kind, t.steps[2].text.as_str()), (StepKind::Reason, "Looking further."));
        assert_eq!((t.steps[3].kind, t.steps[3].text.as_str()), (StepKind::Search, "built-in"));
        assert_eq!(t.final_answer.as_deref(), Some("A"));
    }

    #[test]
    fn errors_name_the_item() {
        let err = |s: &str| parse_str(s).unwrap_err();
        assert_eq!(
            err(r#"{"output": [{"type": "reasoning"}, {"type": "thing"}]}"#),
            "output[1] has unknown type \"thing\""
        );
        assert_eq!(
            err(r#"[{"type": "function_call", "name": "search", "arguments": 7}]"#),
            "items[0].arguments is a number, expected a string or object"
        );
        assert_eq!(
            err(r#"[{"type": "function_call", "arguments": "{}"}]"#),
            "items[0] is a function call without `name`"
        );
        assert_eq!(err(r#"{"output": 5}"#), "field `output` is a number, expected a list of items");
    }
}
