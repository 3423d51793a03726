//! Conversations whose assistant messages call tools as XML inside their text, as Cline-style agents
//! call MCP servers: `<use_mcp_tool><server_name>s</server_name><tool_name>t</tool_name>
//! <arguments>{json}</arguments></use_mcp_tool>`. The result comes in the next user or tool message
//! (Cline opens it with `[use_mcp_tool for 's'] Result:`). Text around the calls and `<thinking>`
//! blocks are reasoning; `<attempt_completion><result>…</result>`, or the last assistant text
//! without a call, is the answer. A task-result file wraps such a history (`history`, `messages`, …)
//! with the question, the final answer and a judge's verdict, read as in any chat record.

use std::borrow::Cow;

use super::chat_completions::{role, Role};
use super::common::{content_text, read_record_fields, tag_segments, tool_call_steps, tool_output};
use super::{Ctx, MESSAGE_KEYS};
use crate::json::Json;
use crate::model::{Format, Step, Trajectory};

const CALL_TAG: &str = "use_mcp_tool";

/// Whether an assistant message of the list calls a tool in XML.
pub fn holds_calls(messages: &[Json]) -> bool {
    messages.iter().any(|m| is_assistant(m) && message_text(m).is_some_and(|t| t.contains("<use_mcp_tool>")))
}

fn is_assistant(m: &Json) -> bool {
    matches!(role(m), Ok(Role::Assistant))
}

fn message_text(m: &Json) -> Option<String> {
    m.get_any(&["content", "value", "text"]).and_then(content_text)
}

pub fn parse(v: &Json, messages: &[Json], ctx: &mut Ctx) -> Result<Trajectory, String> {
    let mut t = ctx.trajectory(Format::ChatCompletions);
    let last_assistant = messages.iter().rposition(is_assistant);
    for (i, m) in messages.iter().enumerate() {
        match role(m) {
            Ok(Role::User) if t.question.is_none() => {
                t.question = message_text(m).map(|q| task_text(&q)).filter(|q| !q.is_empty());
            }
            Ok(Role::Assistant) => {
                let Some(text) = message_text(m) else { continue };
                // The messages that answer this one's calls: those up to the next assistant message.
                let replies: Vec<&Json> = messages[i + 1..].iter().take_while(|r| !is_assistant(r)).collect();
                let mut replies = replies.into_iter();
                let mut calls = 0;
                for segment in tag_segments(&text, &["thinking", CALL_TAG, "attempt_completion"]) {
                    let body = segment.body.trim();
                    match segment.tag {
                        Some(CALL_TAG) => {
                            calls += 1;
                            let (name, arguments) = read_call(body);
                            let output = replies.next().map(|r| result_output(r.field("content")));
                            tool_call_steps(ctx, &name, &arguments, output.as_ref(), &mut t.steps);
                        }
                        Some("attempt_completion") => {
                            let answer = tag_segments(body, &["result"])
                                .into_iter()
                                .find(|s| s.tag == Some("result"))
                                .map_or(body, |s| s.body.trim());
                            if !answer.is_empty() {
                                t.push_answer(answer);
                            }
                        }
                        _ if body.is_empty() => {}
                        _ if calls == 0 && Some(i) == last_assistant && !text.contains("<use_mcp_tool>") => {
                            t.push_answer(body);
                        }
                        _ => t.steps.push(Step::reason(body)),
                    }
                }
            }
            _ => {}
        }
    }
    read_record_fields(v, MESSAGE_KEYS, &mut t)?;
    Ok(t)
}

/// The task of a Cline-style first message: the text inside `<task>…</task>` when present.
fn task_text(text: &str) -> String {
    tag_segments(text, &["task"])
        .into_iter()
        .find(|s| s.tag == Some("task"))
        .map_or(text, |s| s.body)
        .trim()
        .to_string()
}

/// The tool name and arguments of a call's body. The name is `tool_name`; the arguments are the JSON
/// in `<arguments>` (their text when it is not JSON).
fn read_call(body: &str) -> (String, Json<'_>) {
    let mut name = String::new();
    let mut arguments = Json::Null;
    for segment in tag_segments(body, &["server_name", "tool_name", "arguments"]) {
        match segment.tag {
            Some("tool_name") => name = segment.body.trim().to_string(),
            Some("arguments") => {
                let raw = segment.body.trim();
                arguments = Json::parse(raw).unwrap_or(Json::Str(Cow::Borrowed(raw)));
            }
            _ => {}
        }
    }
    (name, arguments)
}

/// A reply as the call's output, without Cline's `[use_mcp_tool for '…'] Result:` header.
fn result_output<'a>(content: &Json<'a>) -> Json<'a> {
    let output = tool_output(content);
    let Json::Str(text) = &output else { return output };
    let t = text.trim_start();
    if t.starts_with("[use_mcp_tool") {
        if let Some(at) = t.find("Result:") {
            return Json::Str(Cow::Owned(t[at + "Result:".len()..].trim().to_string()));
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;
    use crate::model::{Outcome, StepKind};
    use crate::tools::ToolNames;

    #[test]
    fn calls_in_text_with_results_in_the_next_message() {
        let v = Json::parse(
            r#"{"task_id": "t7", "final_answer": "1889", "judge": {"verdict": "CORRECT", "model": "gpt"},
              "history": [
                {"role": "system", "content": "You can use MCP tools."},
                {"role": "user", "content": "<task>\nWhen was the Eiffel Tower finished?\n</task>\n<environment_details>x</environment_details>"},
                {"role": "assistant", "content": "<thinking>I should search.</thinking>\n<use_mcp_tool>\n<server_name>web</server_name>\n<tool_name>web_search</tool_name>\n<arguments>\n{\"query\": \"Eiffel Tower completed\"}\n</arguments>\n</use_mcp_tool>"},
                {"role": "user", "content": [{"type": "text", "text": "[use_mcp_tool for 'web'] Result:\n1. [Eiffel Tower](https://en.wikipedia.org/wiki/Eiffel_Tower)\nCompleted in 1889."}]},
                {"role": "assistant", "content": "Let me read it.\n<use_mcp_tool><server_name>web</server_name><tool_name>fetch</tool_name><arguments>{\"url\": \"https://en.wikipedia.org/wiki/Eiffel_Tower\"}</arguments></use_mcp_tool>"},
                {"role": "user", "content": "[use_mcp_tool for 'web'] Result:\nThe tower was completed on 31 March 1889."},
                {"role": "assistant", "content": "<attempt_completion><result>1889</result></attempt_completion>"}
              ]}"#,
        )
        .unwrap();
        let messages = v.get("history").and_then(Json::as_array).unwrap();
        assert!(holds_calls(messages));
        let location = Location { source: "mcp.json".into(), line: 1, byte_offset: 0 };
        let tools = ToolNames::default();
        let mut ctx = Ctx::new(&location, &tools);
        let t = parse(&v, messages, &mut ctx).unwrap();
        assert_eq!(t.question.as_deref(), Some("When was the Eiffel Tower finished?"));
        let kinds: Vec<_> = t.steps.iter().map(|s| s.kind).collect();
        use StepKind::*;
        assert_eq!(kinds, [Reason, Search, Reason, Browse, Answer]);
        assert_eq!(t.steps[1].text, "Eiffel Tower completed");
        assert_eq!(t.steps[1].hits[0].doc_key, "https://en.wikipedia.org/wiki/Eiffel_Tower");
        assert_eq!(t.steps[1].hits[0].snippet.as_deref(), Some("Completed in 1889."));
        let b = t.steps[3].browse.as_ref().unwrap();
        assert_eq!(b.doc_key.as_deref(), Some("https://en.wikipedia.org/wiki/Eiffel_Tower"));
        assert_eq!(b.content.as_deref(), Some("The tower was completed on 31 March 1889."));
        assert_eq!(t.final_answer.as_deref(), Some("1889"));
        assert_eq!(t.outcome, Outcome::Completed, "the judge's verdict");
        assert_eq!(t.query_id.as_deref(), Some("t7"));
    }

    #[test]
    fn unanswered_call_and_bad_arguments() {
        let v = Json::parse(
            r#"[{"role": "user", "content": "q"},
                {"role": "assistant", "content": "<use_mcp_tool><server_name>s</server_name><tool_name>search</tool_name><arguments>not json</arguments></use_mcp_tool>"}]"#,
        )
        .unwrap();
        let location = Location { source: "m.json".into(), line: 1, byte_offset: 0 };
        let tools = ToolNames::default();
        let mut ctx = Ctx::new(&location, &tools);
        let t = parse(&v, v.as_array().unwrap(), &mut ctx).unwrap();
        assert_eq!((t.steps.len(), t.steps[0].kind, t.steps[0].text.as_str()), (1, StepKind::Search, "not json"));
        assert!(t.steps[0].hits.is_empty());
    }
}
