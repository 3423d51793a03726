//! Search-R1 tag streams: `<think>…</think><search>q</search><information>Doc 1(Title: T) text
//! Doc 2(Title: U) …</information> … <answer>…</answer>` after a prompt that ends with the question
//! (`Question: …`). Results have titles, not ids: the title is the document key. Search-R1 has no browse
//! tool, so a trajectory holds reasoning, searches and the answer only.

use super::common::{
    content_text, parse_search_text, question_in_prompt, read_record_fields, strip_chat_tokens, tag_segments,
};
use super::{Ctx, MESSAGE_KEYS, TEXT_KEYS};
use crate::json::Json;
use crate::model::{Format, Step, Trajectory};

const TAGS: &[&str] = &["think", "search", "information", "answer"];
const SEARCH_TOOL: &str = "search";

pub fn parse_json(v: &Json, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let mut t = ctx.trajectory(Format::SearchR1);
    let mut consumed = MESSAGE_KEYS.to_vec();
    let messages = match v {
        Json::Array(list) => Some(("messages", list.as_slice())),
        _ => MESSAGE_KEYS.iter().find_map(|k| v.get(k).and_then(Json::as_array).map(|l| (*k, l))),
    };
    if let Some((key, list)) = messages {
        let mut prompt = None;
        let mut stream = String::new();
        for (i, m) in list.iter().enumerate() {
            let role = m
                .get_any(&["role", "from"])
                .and_then(Json::as_str)
                .ok_or_else(|| format!("{key}[{i}] has no string `role`"))?;
            let text = match m.get_any(&["content", "value"]) {
                None => String::new(),
                Some(c) => content_text(c).ok_or_else(|| {
                    format!("{key}[{i}].content is {}, expected text or a list of text parts", c.type_name())
                })?,
            };
            match role {
                "system" | "developer" => {}
                "user" | "human" if prompt.is_none() => prompt = Some(text),
                _ => {
                    stream.push_str(&text);
                    stream.push('\n');
                }
            }
        }
        read_stream(prompt.as_deref(), &stream, &mut t);
    } else if let Some((key, text)) = TEXT_KEYS.iter().find_map(|k| v.get(k).and_then(Json::as_str).map(|s| (*k, s))) {
        consumed.push(key);
        let prompt = v.get_any(&["prompt", "input"]).and_then(content_text);
        if prompt.is_some() {
            consumed.extend(["prompt", "input"]);
            read_stream(prompt.as_deref(), text, &mut t);
        } else {
            let (prompt, stream) = split_prompt(text);
            read_stream(Some(prompt), stream, &mut t);
        }
    } else {
        return Err(format!(
            "no messages or tag stream: expected a list of messages or one of the fields {}",
            TEXT_KEYS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    read_record_fields(v, &consumed, &mut t)?;
    Ok(t)
}

pub fn parse_text(text: &str, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let mut t = ctx.trajectory(Format::SearchR1);
    let (prompt, stream) = split_prompt(text);
    if !read_stream(Some(prompt), stream, &mut t) {
        return Err("no Search-R1 tags (<think>, <search>, <information>, <answer>) after the prompt".into());
    }
    Ok(t)
}

/// Splits a full sequence into its prompt and the model's stream: at the assistant turn marker of a
/// chat template, else after the line holding the first `Question:` (the instructions before it name
/// the tags themselves), else at the first tag.
fn split_prompt(text: &str) -> (&str, &str) {
    if let Some(i) = text.find("<|im_start|>assistant") {
        return (&text[..i], &text[i..]);
    }
    if let Some(i) = text.find("Question:") {
        let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
        return (&text[..end], &text[end..]);
    }
    let first = TAGS.iter().filter_map(|tag| text.find(&format!("<{tag}>"))).min().unwrap_or(0);
    (&text[..first], &text[first..])
}

/// Reads the stream's steps into `t`; false when it holds no tag.
fn read_stream(prompt: Option<&str>, stream: &str, t: &mut Trajectory) -> bool {
    if t.question.is_none() {
        t.question = prompt.and_then(question_in_prompt);
    }
    let segments = tag_segments(stream, TAGS);
    let mut i = 0;
    while i < segments.len() {
        let s = segments[i];
        match s.tag {
            Some("think") => {
                let text = s.body.trim();
                if !text.is_empty() {
                    t.steps.push(Step::reason(text));
                }
            }
            Some("search") => {
                let results = segments[i + 1..].iter().take_while(|n| n.tag.is_none()).count();
                let hits = match segments.get(i + 1 + results) {
                    Some(n) if n.tag == Some("information") => {
                        i += results + 1;
                        parse_search_text(n.body)
                    }
                    _ => Vec::new(),
                };
                t.steps.push(Step::search(Some(SEARCH_TOOL.to_string()), s.body.trim(), hits));
            }
            Some("answer") => {
                let text = s.body.trim();
                t.push_answer(text);
            }
            // Results that follow no search: nothing to attach them to.
            Some(_) => {}
            None => {
                let text = strip_chat_tokens(s.body);
                let text = text.trim();
                if !text.is_empty() {
                    t.steps.push(Step::reason(text));
                }
            }
        }
        i += 1;
    }
    segments.iter().any(|s| s.tag.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;
    use crate::model::StepKind;
    use crate::tools::ToolNames;

    fn run(f: impl FnOnce(&mut Ctx) -> Result<Trajectory, String>) -> Result<Trajectory, String> {
        let location = Location { source: "s.txt".into(), line: 1, byte_offset: 0 };
        let tools = ToolNames::default();
        let mut ctx = Ctx::new(&location, &tools);
        f(&mut ctx)
    }

    const PROMPT: &str = "Answer the given question. You must conduct reasoning inside <think> and </think> first every time you get new information. After reasoning, if you find you lack some knowledge, you can call a search engine by <search> query </search> and it will return the top searched results between <information> and </information>. You can search as many times as your want. If you find no further external knowledge needed, you can directly provide the answer inside <answer> and </answer>, without detailed illustrations. For example, <answer> Beijing </answer>. Question: who sang the theme song of the movie Titanic?\n";

    #[test]
    fn full_sequence_with_prompt_that_names_the_tags() {
        let text = format!(
            "{PROMPT}<think>I need the singer.</think>\n<search> Titanic theme song singer </search>\n\n<information>Doc 1(Title: \"My Heart Will Go On\") sung by Celine Dion.\nDoc 2(Title: Titanic (1997 film)) a film.\n</information>\n\n<think>Celine Dion.</think>\n<answer> Celine Dion </answer>"
        );
        let t = run(|ctx| parse_text(&text, ctx)).unwrap();
        assert_eq!(t.question.as_deref(), Some("who sang the theme song of the movie Titanic?"));
        let kinds: Vec<_> = t.steps.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [StepKind::Reason, StepKind::Search, StepKind::Reason, StepKind::Answer]);
        let s = &t.steps[1];
        assert_eq!(s.text, "Titanic theme song singer");
        assert_eq!(
            s.hits.iter().map(|h| h.doc_key.as_str()).collect::<Vec<_>>(),
            ["My Heart Will Go On", "Titanic (1997 film)"]
        );
        assert_eq!(s.hits[0].snippet.as_deref(), Some("sung by Celine Dion."));
        assert_eq!(t.final_answer.as_deref(), Some("Celine Dion"));
        assert_eq!(t.count(StepKind::Browse), 0);
    }

    #[test]
    fn json_records_with_fields_or_messages() {
        let v = Json::parse(
            r#"{"id": "nq_12", "question": "capital of France?", "golden_answers": ["Paris", "paris"], "data_source": "nq",
                "response": "<search>capital of France</search><information>Doc 1(Title: Paris) capital.</information><search>unanswered</search>"}"#,
        )
        .unwrap();
        let t = run(|ctx| parse_json(&v, ctx)).unwrap();
        assert_eq!((t.id.as_str(), t.query_id.as_deref()), ("nq_12", Some("nq_12")));
        assert_eq!(t.question.as_deref(), Some("capital of France?"));
        assert_eq!(t.gold_answer.as_deref(), Some("Paris"));
        assert_eq!(t.final_answer, None);
        assert_eq!(t.metadata.as_deref(), Some(r#"{"data_source":"nq"}"#));
        assert_eq!(t.steps[0].hits[0].doc_key, "Paris");
        assert!(t.steps[1].hits.is_empty(), "a search cut off before its results has none");

        let record = format!(
            r#"{{"messages": [{{"role": "user", "content": {}}}, {{"role": "assistant", "content": "<think>t</think><answer>x</answer>"}}]}}"#,
            serde_json::to_string(PROMPT).unwrap()
        );
        let v = Json::parse(&record).unwrap();
        let t = run(|ctx| parse_json(&v, ctx)).unwrap();
        assert_eq!(t.question.as_deref(), Some("who sang the theme song of the movie Titanic?"));
        assert_eq!(t.final_answer.as_deref(), Some("x"));
    }

    #[test]
    fn errors() {
        assert!(run(|ctx| parse_text("Question: q\nno tags here", ctx)).unwrap_err().starts_with("no Search-R1 tags"));
        let v = Json::parse(r#"{"messages": [{"content": "x"}]}"#).unwrap();
        assert_eq!(run(|ctx| parse_json(&v, ctx)).unwrap_err(), "messages[0] has no string `role`");
    }
}
