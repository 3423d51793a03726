//! OpenAI Chat Completions conversations: a list of messages, or an object holding one under
//! `messages` (or another of `MESSAGE_KEYS`) next to optional `id`, `question`, `answer`, `status`.
//! Assistant messages call tools through `tool_calls[{id, function{name, arguments}}]` (or the legacy
//! `function_call{name, arguments}`); `{role: tool, tool_call_id, content}` messages answer them, matched
//! by id and otherwise in order.

use super::common::{content_text, read_record_fields, tool_call_steps, tool_output};
use super::field_types;
use super::{mcp_xml, qwen, Ctx, MESSAGE_KEYS};
use crate::json::Json;
use crate::model::{Format, Step, Trajectory};

pub fn parse(v: &Json, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let (messages, path) = message_list(v)?;
    if !has_native_calls(messages) {
        // Calls written into the assistant's text, answered by `tool` messages.
        if mcp_xml::holds_calls(messages) {
            return mcp_xml::parse(v, messages, ctx);
        }
        if qwen::holds_calls(messages) {
            return qwen::parse_json(v, ctx);
        }
    }
    let mut t = ctx.trajectory(Format::ChatCompletions);

    let mut calls: Vec<Call> = Vec::new();
    let mut outputs: Vec<Output> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = |field: &str| format!("{path}[{i}]{field}");
        if !matches!(m, Json::Object(_)) {
            return Err(format!("{} is {}, expected a message object", at(""), m.type_name()));
        }
        match role(m).map_err(|e| format!("{} {e}", at("")))? {
            Role::Tool => outputs.push(Output {
                call_id: field_types::text_at(m, &["tool_call_id"]),
                name: field_types::text_at(m, &["name"]),
                content: m.field("content"),
                message: i,
                used: false,
            }),
            Role::Assistant => {
                if let Some(raw) = m.get("tool_calls").filter(|c| !c.is_null()) {
                    let list = raw
                        .as_array()
                        .ok_or_else(|| format!("{} is {}, expected a list", at(".tool_calls"), raw.type_name()))?;
                    for (j, call) in list.iter().enumerate() {
                        calls.push(read_call(call, &at(&format!(".tool_calls[{j}]")), i, true)?);
                    }
                }
                if let Some(call) = m.get("function_call").filter(|c| !c.is_null()) {
                    calls.push(read_call(call, &at(".function_call"), i, false)?);
                }
            }
            Role::User | Role::System => {}
        }
    }
    match_outputs(&mut calls, &mut outputs);

    let last_assistant = messages.iter().rposition(|m| matches!(role(m), Ok(Role::Assistant)));
    let mut calls = calls.into_iter().peekable();
    for (i, m) in messages.iter().enumerate() {
        match role(m)? {
            Role::User => {
                if t.question.is_none() {
                    t.question = m.get_any(&["content", "value"]).and_then(content_text).map(|q| q.trim().to_string());
                }
            }
            Role::Assistant => {
                for key in ["reasoning_content", "reasoning"] {
                    if let Some(text) = m.get(key).and_then(|c| ctx.content(c)).filter(|s| !s.trim().is_empty()) {
                        t.steps.push(Step::reason(text));
                    }
                }
                let has_calls = calls.peek().is_some_and(|c| c.message == i);
                let content =
                    m.get_any(&["content", "value"]).and_then(|c| ctx.content(c)).filter(|s| !s.trim().is_empty());
                match content {
                    Some(text) if !has_calls && Some(i) == last_assistant => {
                        t.push_answer(text);
                    }
                    Some(text) => t.steps.push(Step::reason(text)),
                    None => {}
                }
                while let Some(call) = calls.next_if(|c| c.message == i) {
                    let output = call.output.map(|o| tool_output(outputs[o].content));
                    tool_call_steps(ctx, call.name, call.arguments, output.as_ref(), &mut t.steps);
                }
            }
            Role::Tool | Role::System => {}
        }
    }

    read_record_fields(v, MESSAGE_KEYS, &mut t)?;
    Ok(t)
}

/// Whether an assistant message calls a tool through `tool_calls` or `function_call`.
pub(super) fn has_native_calls(messages: &[Json]) -> bool {
    messages.iter().any(|m| {
        ["tool_calls", "function_call"]
            .iter()
            .any(|k| m.get(k).is_some_and(|c| !c.is_null() && c.as_array().is_none_or(|l| !l.is_empty())))
    })
}

/// The message list and the path naming it in errors.
fn message_list<'v, 'a>(v: &'v Json<'a>) -> Result<(&'v [Json<'a>], String), String> {
    match v {
        Json::Array(items) => Ok((items, "messages".to_string())),
        Json::Object(_) => {
            let (key, list) = MESSAGE_KEYS
                .iter()
                .find_map(|k| v.get(k).filter(|l| !l.is_null()).map(|l| (*k, l)))
                .ok_or("no message list: expected a list of messages or an object with `messages`")?;
            let items = list
                .as_array()
                .ok_or_else(|| format!("field `{key}` is {}, expected a list of messages", list.type_name()))?;
            Ok((items, key.to_string()))
        }
        other => Err(format!("a chat record must be a list of messages or an object, found {}", other.type_name())),
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Role {
    System,
    User,
    Assistant,
    Tool,
}

pub(super) fn role(m: &Json) -> Result<Role, String> {
    let raw = m.get_any(&["role", "from"]).ok_or("has no `role`")?;
    let name = raw.as_str().ok_or_else(|| format!("has a `role` that is {}, expected a string", raw.type_name()))?;
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "assistant" | "gpt" | "model" | "ai" => Role::Assistant,
        "user" | "human" => Role::User,
        "tool" | "function" | "ipython" | "observation" => Role::Tool,
        _ => Role::System,
    })
}

struct Call<'v, 'a> {
    id: Option<String>,
    name: &'v str,
    arguments: &'v Json<'a>,
    /// The assistant message that made the call.
    message: usize,
    /// Index into the tool outputs.
    output: Option<usize>,
}

struct Output<'v, 'a> {
    call_id: Option<String>,
    name: Option<String>,
    content: &'v Json<'a>,
    message: usize,
    used: bool,
}

/// Reads `{id, type, function{name, arguments}}` (or a flat `{name, arguments}`, or the legacy
/// `function_call`).
fn read_call<'v, 'a>(call: &'v Json<'a>, at: &str, message: usize, nested: bool) -> Result<Call<'v, 'a>, String> {
    if !matches!(call, Json::Object(_)) {
        return Err(format!("{at} is {}, expected an object", call.type_name()));
    }
    let (function, fpath) = match call.get("function") {
        Some(f @ Json::Object(_)) if nested => (f, format!("{at}.function")),
        Some(other) if nested => return Err(format!("{at}.function is {}, expected an object", other.type_name())),
        _ => (call, at.to_string()),
    };
    let name = match function.get("name") {
        Some(Json::Str(s)) => s.as_ref(),
        Some(other) => return Err(format!("{fpath}.name is {}, expected a string", other.type_name())),
        None => return Err(format!("{fpath} has no `name`")),
    };
    let arguments = function.field("arguments");
    if !matches!(arguments, Json::Str(_) | Json::Object(_) | Json::Null) {
        return Err(format!("{fpath}.arguments is {}, expected a string or object", arguments.type_name()));
    }
    Ok(Call { id: field_types::text_at(call, &["id"]), name, arguments, message, output: None })
}

/// Gives each call its output: the tool message naming its id, else the first unused tool message
/// after the call (legacy `function` messages, and logs that lost their ids, are matched this way).
fn match_outputs(calls: &mut [Call], outputs: &mut [Output]) {
    for call in calls.iter_mut() {
        if let Some(id) = &call.id {
            if let Some(o) = outputs.iter().position(|o| !o.used && o.call_id.as_ref() == Some(id)) {
                outputs[o].used = true;
                call.output = Some(o);
            }
        }
    }
    for call in calls.iter_mut().filter(|c| c.output.is_none()) {
        let next = outputs
            .iter()
            .position(|o| !o.used && o.message > call.message && o.name.as_deref().is_none_or(|n| n == call.name));
        if let Some(o) = next {
            outputs[o].used = true;
            call.output = Some(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;
    use crate::model::StepKind;
    use crate::tools::ToolNames;

    fn parse_str(text: &str) -> Result<(Trajectory, Vec<String>), String> {
        let location = Location { source: "t.jsonl".into(), line: 3, byte_offset: 0 };
        let tools = ToolNames::default();
        let mut ctx = Ctx::new(&location, &tools);
        let v = Json::parse(text).unwrap();
        let t = parse(&v, &mut ctx)?;
        Ok((t, ctx.unknown_tools))
    }

    #[test]
    fn tool_calls_matched_by_id_even_out_of_order() {
        let (t, unknown) = parse_str(
            r#"{"id": "run-7", "query_id": 12, "answer": "Paris", "status": "completed", "model": "gpt-x", "messages": [
            {"role": "system", "content": "You are a search agent."},
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Let me search.", "reasoning_content": "Think first.", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "search", "arguments": "{\"query\": \"capital of France\"}"}},
                {"id": "b", "type": "function", "function": {"name": "get_document", "arguments": {"docid": "d9"}}}]},
            {"role": "tool", "tool_call_id": "b", "content": "Document d9: Paris is the capital."},
            {"role": "tool", "tool_call_id": "a", "content": "[{\"docid\": \"d9\", \"score\": 3.5}, {\"docid\": \"d2\"}]"},
            {"role": "assistant", "content": "Paris"}]}"#,
        )
        .unwrap();
        assert!(unknown.is_empty());
        assert_eq!(t.id, "run-7");
        assert_eq!(t.query_id.as_deref(), Some("12"));
        assert_eq!(t.question.as_deref(), Some("What is the capital of France?"));
        assert_eq!(t.gold_answer.as_deref(), Some("Paris"));
        assert_eq!(t.final_answer.as_deref(), Some("Paris"));
        assert_eq!(t.outcome, crate::model::Outcome::Completed);
        assert_eq!(t.metadata.as_deref(), Some(r#"{"model":"gpt-x"}"#));
        let kinds: Vec<_> = t.steps.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [StepKind::Reason, StepKind::Reason, StepKind::Search, StepKind::Browse, StepKind::Answer]);
        assert_eq!(t.steps[0].text, "Think first.");
        assert_eq!(t.steps[2].text, "capital of France");
        assert_eq!(t.steps[2].hits.iter().map(|h| h.doc_key.as_str()).collect::<Vec<_>>(), ["d9", "d2"]);
        assert_eq!(t.steps[2].hits[0].score, Some(3.5));
        let b = t.steps[3].browse.as_ref().unwrap();
        assert_eq!((b.doc_key.as_deref(), b.ok), (Some("d9"), true));
        assert_eq!(b.content.as_deref(), Some("Document d9: Paris is the capital."));
    }

    #[test]
    fn bare_list_with_legacy_function_call_and_order_fallback() {
        let (t, _) = parse_str(
            r#"[{"role": "user", "content": [{"type": "text", "text": "Who wrote Dune?"}]},
               {"role": "assistant", "content": null, "function_call": {"name": "web_search", "arguments": "{\"q\": \"Dune author\"}"}},
               {"role": "function", "name": "web_search", "content": "1. [Frank Herbert](https://en.wikipedia.org/wiki/Frank_Herbert)\nAmerican author"},
               {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "open_url", "arguments": {"url": "https://en.wikipedia.org/wiki/Frank_Herbert"}}}]},
               {"role": "tool", "content": [{"type": "text", "text": "Error: timeout"}]}]"#,
        )
        .unwrap();
        assert_eq!(t.question.as_deref(), Some("Who wrote Dune?"));
        assert_eq!(t.steps.len(), 2);
        assert_eq!(t.steps[0].text, "Dune author");
        assert_eq!(t.steps[0].hits[0].doc_key, "https://en.wikipedia.org/wiki/Frank_Herbert");
        let b = t.steps[1].browse.as_ref().unwrap();
        assert_eq!(b.doc_key.as_deref(), Some("https://en.wikipedia.org/wiki/Frank_Herbert"));
        assert!(!b.ok, "an error output is a failed browse");
        assert_eq!(t.final_answer, None, "the last assistant message called a tool: no answer");
        assert_eq!(t.outcome, crate::model::Outcome::Unknown);
    }

    #[test]
    fn unknown_tools_and_document_arguments() {
        let (t, unknown) = parse_str(
            r#"{"messages": [{"role": "user", "content": "q"},
               {"role": "assistant", "tool_calls": [
                 {"id": "1", "function": {"name": "calculator", "arguments": "{\"expr\": \"1+1\"}"}},
                 {"id": "2", "function": {"name": "read_wiki", "arguments": "{\"url\": \"https://x.org/a\"}"}}]},
               {"role": "tool", "tool_call_id": "1", "content": "2"},
               {"role": "tool", "tool_call_id": "2", "content": "A page"},
               {"role": "assistant", "content": "2"}], "success": false}"#,
        )
        .unwrap();
        assert_eq!(unknown, ["calculator"]);
        assert_eq!(t.steps[0].kind, StepKind::Tool);
        assert_eq!(t.steps[1].kind, StepKind::Browse, "a call naming a url reads a document");
        assert_eq!(t.steps[1].browse.as_ref().unwrap().doc_key.as_deref(), Some("https://x.org/a"));
        assert_eq!(t.outcome, crate::model::Outcome::Failed);
    }

    #[test]
    fn empty_final_message_is_no_answer() {
        let (t, _) =
            parse_str(r#"[{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}]"#).unwrap();
        assert_eq!(t.final_answer, None);
        assert!(t.steps.is_empty());
    }

    #[test]
    fn errors_name_the_bad_field() {
        let err = |s: &str| parse_str(s).unwrap_err();
        assert_eq!(
            err(
                r#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [{"id": "x", "function": {"name": "search", "arguments": 5}}]}]}"#
            ),
            "messages[1].tool_calls[0].function.arguments is a number, expected a string or object"
        );
        assert_eq!(err(r#"{"messages": [{"content": "q"}]}"#), "messages[0] has no `role`");
        assert_eq!(err(r#"{"messages": "hi"}"#), "field `messages` is a string, expected a list of messages");
        assert_eq!(
            err(r#"[{"role": "assistant", "tool_calls": {"id": 1}}]"#),
            "messages[0].tool_calls is an object, expected a list"
        );
        assert_eq!(
            err(r#"[{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}]"#),
            "messages[0].tool_calls[0].function has no `name`"
        );
        assert!(err(r#"{"status": 3, "messages": [{"role": "user", "content": "q"}]}"#)
            .contains("field `status` is a number"));
    }
}
