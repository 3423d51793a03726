//! Qwen-agent / Tongyi DeepResearch transcripts: chat messages whose text holds `<think>…</think>`,
//! `<tool_call>{"name": …, "arguments": …}</tool_call>`, observations in `<tool_response>…</tool_response>`
//! (in a `user` or `tool` message, or inline) and the final `<answer>…</answer>`. Text outside the tags
//! of an assistant turn is reasoning, except that the closing text of a transcript without `<answer>` is
//! its answer. A `<tool_call>` whose body holds no readable `{"name": …}` object becomes a `tool` step
//! without a tool name holding the raw body (it is not reported as an unknown tool).

use std::borrow::Cow;

use super::common::{
    content_text, question_in_prompt, read_record_fields, strip_chat_tokens, tag_segments, tool_call_steps,
};
use super::field_types;
use super::{Ctx, MESSAGE_KEYS, TEXT_KEYS};
use crate::json::Json;
use crate::model::{Format, Step, Trajectory};

const TAGS: &[&str] = &["think", "tool_call", "tool_response", "answer"];

pub fn parse_json(v: &Json, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let mut turns: Vec<(Speaker, String)> = Vec::new();
    let mut consumed = MESSAGE_KEYS.to_vec();
    if let Some((key, list)) = MESSAGE_KEYS.iter().find_map(|k| v.get(k).and_then(Json::as_array).map(|l| (*k, l))) {
        read_messages(list, key, &mut turns)?;
    } else if let Json::Array(list) = v {
        read_messages(list, "messages", &mut turns)?;
    } else if let Some((key, text)) = TEXT_KEYS.iter().find_map(|k| v.get(k).and_then(Json::as_str).map(|t| (*k, t))) {
        consumed.push(key);
        turns = text_turns(text);
        if let Some(prompt) = v.get("prompt").and_then(content_text) {
            consumed.push("prompt");
            turns.insert(0, (Speaker::User, prompt));
        }
    } else {
        return Err(format!(
            "no messages or transcript: expected a list of messages or one of the fields {}",
            TEXT_KEYS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    let mut t = ctx.trajectory(Format::Qwen);
    build(&turns, &mut t, ctx);
    read_record_fields(v, &consumed, &mut t)?;
    Ok(t)
}

pub fn parse_text(text: &str, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let turns = text_turns(text);
    let mut t = ctx.trajectory(Format::Qwen);
    build(&turns, &mut t, ctx);
    if t.steps.is_empty() {
        return Err("no Qwen tags (<think>, <tool_call>, <tool_response>, <answer>) in the transcript".into());
    }
    Ok(t)
}

/// Whether an assistant message of a chat list writes a `<tool_call>` into its text (Qwen-style
/// agents served without native tool calling, whose results come back as `tool` or `user` messages).
pub fn holds_calls(messages: &[Json]) -> bool {
    messages.iter().any(|m| {
        m.get_any(&["role", "from"])
            .and_then(Json::as_str)
            .is_some_and(|r| matches!(r.trim().to_ascii_lowercase().as_str(), "assistant" | "gpt" | "model"))
            && m.get_any(&["content", "value"]).and_then(content_text).is_some_and(|t| t.contains("<tool_call>"))
    })
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Speaker {
    User,
    Assistant,
    Tool,
}

fn read_messages(list: &[Json], key: &str, turns: &mut Vec<(Speaker, String)>) -> Result<(), String> {
    for (i, m) in list.iter().enumerate() {
        let role = match m.get_any(&["role", "from"]) {
            Some(Json::Str(r)) => r.trim().to_ascii_lowercase(),
            Some(other) => return Err(format!("{key}[{i}].role is {}, expected a string", other.type_name())),
            None => return Err(format!("{key}[{i}] has no `role`")),
        };
        let speaker = match role.as_str() {
            "assistant" | "gpt" | "model" => Speaker::Assistant,
            "user" | "human" => Speaker::User,
            "tool" | "function" | "observation" => Speaker::Tool,
            _ => continue,
        };
        let text = match m.get_any(&["content", "value"]) {
            None => String::new(),
            Some(Json::Array(parts)) if parts.is_empty() => String::new(),
            Some(c) => content_text(c).ok_or_else(|| {
                format!("{key}[{i}].content is {}, expected text or a list of text parts", c.type_name())
            })?,
        };
        turns.push((speaker, text));
    }
    Ok(())
}

/// A transcript as turns: split at `<|im_start|>role` markers when it has them, else a prompt (the text
/// before the first tag) followed by one assistant turn.
fn text_turns(text: &str) -> Vec<(Speaker, String)> {
    if text.contains("<|im_start|>") {
        return text
            .split("<|im_start|>")
            .filter_map(|part| {
                let (role, body) = part.split_once(|c: char| c.is_whitespace()).unwrap_or((part, ""));
                let speaker = match role {
                    "assistant" => Speaker::Assistant,
                    "user" => Speaker::User,
                    "tool" | "function" | "observation" => Speaker::Tool,
                    _ => return None,
                };
                Some((speaker, strip_chat_tokens(body)))
            })
            .collect();
    }
    let first_tag = TAGS.iter().filter_map(|t| text.find(&format!("<{t}>"))).min().unwrap_or(text.len());
    let (prompt, rest) = text.split_at(first_tag);
    let mut turns = Vec::new();
    if !prompt.trim().is_empty() {
        turns.push((Speaker::User, prompt.to_string()));
    }
    turns.push((Speaker::Assistant, rest.to_string()));
    turns
}

enum Event<'t> {
    Reason(&'t str),
    /// Text outside the tags of an assistant turn.
    Loose(&'t str),
    Call(&'t str),
    Output(&'t str),
    Answer(&'t str),
}

fn build(turns: &[(Speaker, String)], t: &mut Trajectory, ctx: &mut Ctx) {
    let mut events: Vec<Event> = Vec::new();
    for (speaker, text) in turns {
        match speaker {
            Speaker::Tool => {
                let segments = tag_segments(text, &["tool_response"]);
                if segments.iter().any(|s| s.tag.is_some()) {
                    events.extend(segments.iter().filter(|s| s.tag.is_some()).map(|s| Event::Output(s.body.trim())));
                } else {
                    events.push(Event::Output(text.trim()));
                }
            }
            Speaker::User => {
                let segments = tag_segments(text, &["tool_response"]);
                for s in &segments {
                    match s.tag {
                        Some(_) => events.push(Event::Output(s.body.trim())),
                        None if t.question.is_none() => t.question = question_in_prompt(s.body),
                        None => {}
                    }
                }
            }
            Speaker::Assistant => {
                for s in tag_segments(text, TAGS) {
                    let body = s.body.trim();
                    events.push(match s.tag {
                        Some("think") => Event::Reason(body),
                        Some("tool_call") => Event::Call(body),
                        Some("tool_response") => Event::Output(body),
                        Some(_) => Event::Answer(body),
                        None => Event::Loose(body),
                    });
                }
            }
        }
    }
    if !events.iter().any(|e| matches!(e, Event::Answer(_))) {
        if let Some(last) = events.last_mut() {
            if let Event::Loose(text) = *last {
                *last = Event::Answer(text);
            }
        }
    }

    // Observations answer the calls in order.
    let mut outputs: Vec<Option<&str>> = Vec::new();
    let mut pending = std::collections::VecDeque::new();
    for e in &events {
        match e {
            Event::Call(_) => {
                pending.push_back(outputs.len());
                outputs.push(None);
            }
            Event::Output(o) => {
                if let Some(c) = pending.pop_front() {
                    outputs[c] = Some(*o);
                }
            }
            _ => {}
        }
    }

    let mut call_index = 0;
    for e in &events {
        match e {
            Event::Reason(text) | Event::Loose(text) => {
                if !text.is_empty() {
                    t.steps.push(Step::reason(ctx.shared(text)));
                }
            }
            Event::Answer(text) => {
                t.push_answer(ctx.shared(text));
            }
            Event::Call(body) => {
                let output = outputs[call_index].map(|o| Json::Str(Cow::Borrowed(o)));
                call_index += 1;
                match read_call(body) {
                    Some((name, arguments)) => tool_call_steps(ctx, &name, &arguments, output.as_ref(), &mut t.steps),
                    None => t.steps.push(Step::tool(None, *body)),
                }
            }
            Event::Output(_) => {}
        }
    }
}

/// The first JSON object in a `<tool_call>` body with its `name` and `arguments` (or `parameters`);
/// text after the object (Tongyi's `<code>` blocks) is ignored.
fn read_call(body: &str) -> Option<(String, Json<'_>)> {
    let start = body.find('{')?;
    let (value, _) = Json::parse_prefix(&body[start..]).ok()?;
    let name = field_types::text_at(&value, &["name"])?;
    let arguments = value.get_any(&["arguments", "parameters", "args"]).cloned().unwrap_or(Json::Null);
    Some((name, arguments))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;
    use crate::model::StepKind;
    use crate::tools::ToolNames;

    fn run(f: impl FnOnce(&mut Ctx) -> Result<Trajectory, String>) -> (Result<Trajectory, String>, Vec<String>) {
        let location = Location { source: "q.jsonl".into(), line: 2, byte_offset: 0 };
        let tools = ToolNames::default();
        let mut ctx = Ctx::new(&location, &tools);
        let t = f(&mut ctx);
        (t, ctx.unknown_tools)
    }

    const TONGYI: &str = r#"{"question": "Which river flows through the city where X was born?", "answer": "Danube", "termination": "answer",
      "messages": [
        {"role": "system", "content": "You are a deep research assistant."},
        {"role": "user", "content": "Which river flows through the city where X was born?"},
        {"role": "assistant", "content": "<think>Find X's birthplace.</think>\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": [\"X birthplace\", \"X born\"]}}\n</tool_call>"},
        {"role": "user", "content": "<tool_response>\nA Google search for 'X birthplace' found 2 results:\n\n## Web Results\n1. [X - Wikipedia](https://en.wikipedia.org/wiki/X)\nX was born in Vienna.\n2. [Vienna](https://en.wikipedia.org/wiki/Vienna)\ncapital\n</tool_response>"},
        {"role": "assistant", "content": "Born in Vienna, checking.<tool_call>{\"name\": \"visit\", \"arguments\": {\"url\": [\"https://en.wikipedia.org/wiki/Vienna\", \"https://v.example\"], \"goal\": \"river\"}}</tool_call>"},
        {"role": "user", "content": "<tool_response>The useful information in https://en.wikipedia.org/wiki/Vienna: the Danube.</tool_response>"},
        {"role": "assistant", "content": "<think>Done.</think><tool_call>{\"name\": \"PythonInterpreter\", \"arguments\": {}}\n<code>print(1)</code></tool_call>"},
        {"role": "user", "content": "<tool_response>1</tool_response>"},
        {"role": "assistant", "content": "<think>Answer now.</think>\n<answer>Danube</answer>"}]}"#;

    #[test]
    fn tongyi_messages() {
        let v = Json::parse(TONGYI).unwrap();
        let (t, unknown) = run(|ctx| parse_json(&v, ctx));
        let t = t.unwrap();
        assert_eq!(unknown, ["PythonInterpreter"]);
        assert_eq!(t.question.as_deref(), Some("Which river flows through the city where X was born?"));
        assert_eq!(t.gold_answer.as_deref(), Some("Danube"));
        assert_eq!(t.final_answer.as_deref(), Some("Danube"));
        assert_eq!(t.metadata.as_deref(), Some(r#"{"termination":"answer"}"#));
        let kinds: Vec<_> = t.steps.iter().map(|s| s.kind).collect();
        use StepKind::*;
        assert_eq!(kinds, [Reason, Search, Reason, Browse, Browse, Reason, Tool, Reason, Answer]);
        assert_eq!(t.steps[1].text, "X birthplace");
        assert_eq!(
            t.steps[1].hits.iter().map(|h| h.doc_key.as_str()).collect::<Vec<_>>(),
            ["https://en.wikipedia.org/wiki/X", "https://en.wikipedia.org/wiki/Vienna"]
        );
        assert_eq!(t.steps[2].text, "Born in Vienna, checking.");
        let b = t.steps[3].browse.as_ref().unwrap();
        assert_eq!(b.doc_key.as_deref(), Some("https://en.wikipedia.org/wiki/Vienna"));
        assert!(b.ok);
        assert!(b.content.as_deref().unwrap().contains("the Danube"));
        assert_eq!(b.content_chars, b.content.as_deref().unwrap().chars().count() as u64);
        let second = t.steps[4].browse.as_ref().unwrap();
        assert_eq!(second.doc_key.as_deref(), Some("https://v.example"));
        assert_eq!(
            (&second.content, second.content_chars, second.ok),
            (&b.content, b.content_chars, b.ok),
            "one output, read for both URLs"
        );
    }

    #[test]
    fn prediction_field_stands_in_for_a_missing_answer_tag() {
        let v = Json::parse(
            r#"{"question": "q", "answer": "gold", "prediction": "guess", "messages": [
                {"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>out of turns</think>"}]}"#,
        )
        .unwrap();
        let t = run(|ctx| parse_json(&v, ctx)).0.unwrap();
        assert_eq!((t.final_answer.as_deref(), t.gold_answer.as_deref()), (Some("guess"), Some("gold")));
        assert_eq!(t.metadata, None);
        let record = TONGYI.replacen(r#""termination""#, r#""prediction": "Danube!", "termination""#, 1);
        let v = Json::parse(&record).unwrap();
        let t = run(|ctx| parse_json(&v, ctx)).0.unwrap();
        assert_eq!(t.final_answer.as_deref(), Some("Danube"), "the <answer> tag wins over the field");
        assert!(t.metadata.unwrap().contains("Danube!"));
    }

    #[test]
    fn text_transcript_with_inline_responses_and_junk() {
        let text = "Question: Who founded Y?\n<think>search it</think>\n<tool_call> {\"name\": \"search\", \"arguments\": \"{\\\"query\\\": \\\"Y founder\\\"}\"} trailing junk</tool_call>\n<tool_response>\nDocID:5\n[Y Corp]\nfounded by Z\n</tool_response>\n<tool_call>{\"name\": \"get_document\", \"arguments\": {\"docid\": \"5\"}}</tool_call><tool_response>[visit] Failed to read page.</tool_response>\n<tool_call>not json</tool_call>\nIt was Z.";
        let (t, unknown) = run(|ctx| parse_text(text, ctx));
        let t = t.unwrap();
        assert!(unknown.is_empty());
        assert_eq!(t.question.as_deref(), Some("Who founded Y?"));
        assert_eq!(t.steps[1].text, "Y founder");
        assert_eq!(t.steps[1].hits[0].doc_key, "5");
        let b = t.steps[2].browse.as_ref().unwrap();
        assert_eq!((b.doc_key.as_deref(), b.ok), (Some("5"), false));
        assert_eq!(
            (t.steps[3].kind, t.steps[3].tool_name.as_deref(), t.steps[3].text.as_str()),
            (StepKind::Tool, None, "not json")
        );
        assert_eq!(t.final_answer.as_deref(), Some("It was Z."), "closing text without <answer> is the answer");
    }

    #[test]
    fn chat_template_text_and_errors() {
        let text = "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>easy</think><answer>4</answer><|im_end|>";
        let (t, _) = run(|ctx| parse_text(text, ctx));
        let t = t.unwrap();
        assert_eq!(t.question.as_deref(), Some("What is 2+2?"));
        assert_eq!(t.final_answer.as_deref(), Some("4"));
        assert_eq!(t.steps.len(), 2);

        let v = Json::parse(r#"{"messages": [{"role": "user", "content": true}]}"#).unwrap();
        assert_eq!(
            run(|ctx| parse_json(&v, ctx)).0.unwrap_err(),
            "messages[0].content is a boolean, expected text or a list of text parts"
        );
        let v = Json::parse(r#"{"foo": 1}"#).unwrap();
        assert!(run(|ctx| parse_json(&v, ctx)).0.unwrap_err().starts_with("no messages or transcript"));
    }
}
