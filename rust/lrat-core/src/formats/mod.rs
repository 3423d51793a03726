//! Reading one record (a JSON document or a block of text) into canonical trajectories, with the
//! format detected per record unless the caller names it.

pub mod browsecomp;
pub mod chat_completions;
pub mod common;
pub mod field_types;
pub mod group_chat;
pub mod links;
pub mod mcp_xml;
pub mod python_literal;
pub mod qwen;
pub mod react;
pub mod responses;
pub mod search_r1;
pub mod wandb_table;
pub mod web_surfer;

use std::borrow::Cow;

use crate::arena::TextArena;
use crate::error::{Location, RecordError};
use crate::json::Json;
use crate::model::{Format, Outcome, SharedText, Trajectory};
use crate::tools::ToolNames;

/// What to do with a call of a tool that is neither a search nor a browse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownTools {
    /// Keep it as a `tool` step, silently.
    Keep,
    /// Keep it as a `tool` step and report a warning for the record.
    Warn,
    /// Treat the record as bad.
    Error,
}

impl std::str::FromStr for UnknownTools {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "keep" => Ok(UnknownTools::Keep),
            "warn" => Ok(UnknownTools::Warn),
            "error" => Ok(UnknownTools::Error),
            _ => Err(format!("unknown_tools must be 'keep', 'warn' or 'error', not {s:?}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FormatOptions {
    /// `None` detects the format of each record.
    pub format: Option<Format>,
    pub tools: ToolNames,
    pub unknown_tools: UnknownTools,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions { format: None, tools: ToolNames::default(), unknown_tools: UnknownTools::Warn }
    }
}

/// The trajectories read from one record and the warnings about it.
#[derive(Debug, Default)]
pub struct Parsed {
    pub trajectories: Vec<Trajectory>,
    pub warnings: Vec<RecordError>,
    /// Fields of the wrong JSON type (see `field_types`): warnings, or the record's error in strict
    /// mode.
    pub wrong_types: Vec<RecordError>,
    /// Trajectories of a record holding several (a list, an object keyed by question id, a table)
    /// that could not be read: each is skipped and counted as an error, the others are kept.
    pub errors: Vec<RecordError>,
}

/// State shared by the format parsers while they read one record.
pub struct Ctx<'o> {
    pub location: &'o Location,
    pub tools: &'o ToolNames,
    /// Names of tools that were neither search nor browse.
    pub unknown_tools: Vec<String>,
    /// Position inside a record that holds several trajectories.
    pub index: Option<usize>,
    /// The record's strings that held escapes, unescaped one after another (see `TextArena`).
    pub texts: Option<SharedText>,
    /// Trajectories of the record that could not be read (see `Parsed::errors`).
    pub errors: Vec<String>,
}

impl<'o> Ctx<'o> {
    pub fn new(location: &'o Location, tools: &'o ToolNames) -> Self {
        Ctx { location, tools, unknown_tools: Vec::new(), index: None, texts: None, errors: Vec::new() }
    }

    /// `text` as a view of the record's unescaped strings when it is one of them (or part of
    /// one), else a copy.
    pub fn shared(&self, text: &str) -> SharedText {
        SharedText::within(self.texts.as_ref(), text)
    }

    /// `common::content_text`, as a view when the content is one string.
    pub fn content(&self, v: &Json) -> Option<SharedText> {
        match v {
            Json::Str(s) => Some(self.shared(s)),
            other => common::content_text(other).map(SharedText::from),
        }
    }

    /// An empty trajectory with the record's default id (`<file>:<line>`, `#i` inside arrays).
    pub fn trajectory(&self, format: Format) -> Trajectory {
        let mut id = format!("{}:{}", self.location.source, self.location.line);
        if let Some(i) = self.index {
            id.push_str(&format!("#{i}"));
        }
        Trajectory {
            id,
            query_id: None,
            source: self.location.source.clone(),
            line: self.location.line,
            format,
            question: None,
            final_answer: None,
            gold_answer: None,
            outcome: Outcome::Unknown,
            metadata: None,
            steps: Vec::new(),
        }
    }
}

/// Reads one record. JSON when it starts with `{` or `[`, text (ReAct, Search-R1, Qwen) otherwise.
pub fn parse_record(text: &str, location: &Location, options: &FormatOptions) -> Result<Parsed, RecordError> {
    let fail = |reason: String| RecordError::new(location.clone(), reason);
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(fail("empty record".into()));
    }
    let mut ctx = Ctx::new(location, &options.tools);
    let (trajectories, wrong_types) = field_types::collect(|| {
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            let arena = TextArena::with_capacity(trimmed.len());
            let value = Json::parse_in(trimmed, &arena).map_err(|e| fail(format!("invalid JSON: {e}")))?;
            if !arena.is_empty() {
                ctx.texts = Some(arena.share());
            }
            parse_json(&value, options.format, &mut ctx).map_err(fail)
        } else {
            Ok(vec![parse_text(trimmed, options.format, &mut ctx).map_err(fail)?])
        }
    });
    let wrong_types = wrong_types.iter().map(|w| RecordError::new(location.clone(), w.reason())).collect();
    let mut trajectories = trajectories?;
    for t in &mut trajectories {
        links::match_browses_to_hits(t);
    }
    let errors = ctx.errors.drain(..).map(|e| RecordError::new(location.clone(), e)).collect();
    let mut parsed = Parsed { trajectories, warnings: Vec::new(), wrong_types, errors };
    if !ctx.unknown_tools.is_empty() {
        ctx.unknown_tools.sort();
        ctx.unknown_tools.dedup();
        let reason = format!(
            "unknown tool{} {} (neither search nor browse; configure search_tools / browse_tools)",
            if ctx.unknown_tools.len() > 1 { "s" } else { "" },
            ctx.unknown_tools.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(", ")
        );
        match options.unknown_tools {
            UnknownTools::Keep => {}
            UnknownTools::Warn => parsed.warnings.push(RecordError::new(location.clone(), reason)),
            UnknownTools::Error => return Err(fail(reason)),
        }
    }
    Ok(parsed)
}

fn parse_json(value: &Json, format: Option<Format>, ctx: &mut Ctx) -> Result<Vec<Trajectory>, String> {
    if let Json::Array(items) = value {
        if !items.is_empty() && items.iter().all(is_trajectory_object) {
            let parts = items.iter().map(|item| Ok(Cow::Borrowed(item)));
            return parse_parts(parts, |i| format!("trajectory #{i}"), format, ctx, |_, _| {});
        }
    }
    if let Some(entries) = keyed_trajectories(value) {
        let parts = entries.iter().map(|(_, item)| Ok(Cow::Borrowed(item)));
        let name = |i: usize| format!("trajectory {:?}", entries[i].0);
        return parse_parts(parts, name, format, ctx, |i, t| {
            if t.query_id.is_none() {
                t.query_id = Some(entries[i].0.to_string());
            }
        });
    }
    if let Some((columns, rows)) = wandb_table::table(value) {
        let parts = rows.iter().map(|row| wandb_table::row_record(&columns, row).map(Cow::Owned));
        return parse_parts(parts, |r| format!("table row {r}"), format, ctx, |_, _| {});
    }
    Ok(vec![parse_json_one(value, format, ctx)?])
}

/// Reads the trajectories of a record that holds several, numbered in `ctx.index`. A part that
/// cannot be read is recorded in `ctx.errors` under its `name` and skipped; the record fails only
/// when no part can be read. `finish` completes the i-th part's trajectory.
fn parse_parts<'v, 'a: 'v>(
    parts: impl Iterator<Item = Result<Cow<'v, Json<'a>>, String>>,
    name: impl Fn(usize) -> String,
    format: Option<Format>,
    ctx: &mut Ctx,
    mut finish: impl FnMut(usize, &mut Trajectory),
) -> Result<Vec<Trajectory>, String> {
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for (i, part) in parts.enumerate() {
        ctx.index = Some(i);
        let read = part.and_then(|item| match item.as_ref() {
            Json::Str(text) => parse_text(text.trim(), format, ctx),
            item => parse_json_one(item, format, ctx),
        });
        match read {
            Ok(mut t) => {
                finish(i, &mut t);
                out.push(t);
            }
            Err(e) => failed.push(format!("{}: {e}", name(i))),
        }
    }
    ctx.index = None;
    if out.is_empty() && !failed.is_empty() {
        let more = if failed.len() > 1 { format!(" (and {} more like it)", failed.len() - 1) } else { String::new() };
        return Err(format!("{}{more}", failed.swap_remove(0)));
    }
    ctx.errors.extend(failed);
    Ok(out)
}

/// The entries of an object keyed by question id whose every value is one trajectory (a record of a
/// known format, or a text transcript), when `value` is such an object and not a trajectory itself.
fn keyed_trajectories<'v, 'a>(value: &'v Json<'a>) -> Option<&'v [(std::borrow::Cow<'a, str>, Json<'a>)]> {
    let entries = value.as_object()?;
    if entries.is_empty() || detect_json(value).is_ok() {
        return None;
    }
    let is_trajectory = |v: &Json| match v {
        Json::Str(text) => detect_text(text).is_some(),
        Json::Object(_) => detect_json(v).is_ok(),
        _ => false,
    };
    entries.iter().all(|(_, v)| is_trajectory(v)).then_some(entries)
}

fn is_trajectory_object(v: &Json) -> bool {
    matches!(v, Json::Object(_))
        && (v.get("result").is_some()
            || messages_of(v).is_some()
            || response_items_of(v).is_some() && v.get("type").is_none())
}

/// Parses one trajectory.
fn parse_json_one(value: &Json, format: Option<Format>, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let format = match format {
        Some(f) => f,
        None => detect_json(value)?,
    };
    match format {
        Format::BrowseComp => browsecomp::parse(value, ctx),
        Format::ChatCompletions => chat_completions::parse(value, ctx),
        Format::Responses => responses::parse(value, ctx),
        Format::Qwen => qwen::parse_json(value, ctx),
        Format::SearchR1 => search_r1::parse_json(value, ctx),
        Format::React => react::parse_json(value, ctx),
        Format::GroupChat => group_chat::parse(value, ctx),
    }
}

fn parse_text(text: &str, format: Option<Format>, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let format = match format {
        Some(f) => f,
        None => detect_text(text).ok_or_else(|| {
            if react::is_graded_question_without_steps(text) {
                "a question with its grading line and no steps (a run log listing a question it did not run again): no trajectory to read".to_string()
            } else {
                "unrecognised text record: no ReAct (Thought/Action/Observation), Search-R1 (<search>) or Qwen (<tool_call>) markers".to_string()
            }
        })?,
    };
    match format {
        Format::Qwen => qwen::parse_text(text, ctx),
        Format::SearchR1 => search_r1::parse_text(text, ctx),
        Format::React => react::parse_text(text, ctx),
        other => Err(format!("format {other} needs a JSON record, found text")),
    }
}

/// Keys under which logs keep a message list.
pub const MESSAGE_KEYS: &[&str] =
    &["messages", "message_history", "conversation", "conversations", "history", "chat", "trajectory", "traj"];
/// Keys under which logs keep a text transcript.
pub const TEXT_KEYS: &[&str] = &[
    "trajectory",
    "output",
    "response",
    "completion",
    "prediction",
    "generation",
    "text",
    "log",
    "transcript",
    "traj",
];

/// The message list of a chat record (an object holding one, or the list itself).
pub fn messages_of<'v, 'a>(v: &'v Json<'a>) -> Option<&'v [Json<'a>]> {
    let list = match v {
        Json::Array(items) => items.as_slice(),
        Json::Object(_) => MESSAGE_KEYS.iter().find_map(|k| v.get(k).and_then(Json::as_array))?,
        _ => return None,
    };
    (!list.is_empty() && list.iter().all(|m| m.get("role").is_some() || m.get("from").is_some())).then_some(list)
}

pub(crate) const RESPONSE_ITEM_TYPES: &[&str] = &[
    "reasoning",
    "function_call",
    "function_call_output",
    "message",
    "web_search_call",
    "custom_tool_call",
    "custom_tool_call_output",
];

/// The item list of an OpenAI Responses record.
pub fn response_items_of<'v, 'a>(v: &'v Json<'a>) -> Option<&'v [Json<'a>]> {
    let is_items = |items: &[Json]| {
        !items.is_empty()
            && items
                .iter()
                .any(|i| i.get("type").and_then(Json::as_str).is_some_and(|t| t == "function_call" || t == "reasoning"))
            && items.iter().all(|i| {
                i.get("type").and_then(Json::as_str).is_some_and(|t| RESPONSE_ITEM_TYPES.contains(&t))
                    || i.get("role").is_some()
            })
    };
    match v {
        Json::Array(items) if is_items(items) => Some(items),
        Json::Object(_) => ["output", "items", "input", "response_items"]
            .iter()
            .find_map(|k| v.get(k).and_then(Json::as_array).filter(|items| is_items(items)))
            .or_else(|| v.get("response").and_then(response_items_of)),
        _ => None,
    }
}

fn detect_json(v: &Json) -> Result<Format, String> {
    if let Some(result) = v.get("result") {
        if result.as_array().is_some() {
            return Ok(Format::BrowseComp);
        }
        return Err(format!("field `result` is {}, expected a list of steps", result.type_name()));
    }
    if response_items_of(v).is_some() {
        return Ok(Format::Responses);
    }
    if let Some(messages) = messages_of(v) {
        if !chat_completions::has_native_calls(messages) && qwen::holds_calls(messages) {
            return Ok(Format::Qwen);
        }
        let has_tool_calls = messages.iter().any(|m| {
            m.get("tool_calls").is_some()
                || m.get("function_call").is_some()
                || matches!(m.get("role").and_then(Json::as_str), Some("tool" | "function"))
        });
        if has_tool_calls || mcp_xml::holds_calls(messages) {
            return Ok(Format::ChatCompletions);
        }
        if group_chat::shows_agent_actions(messages) {
            return Ok(Format::GroupChat);
        }
        let text: String = messages
            .iter()
            .filter_map(|m| m.get_any(&["content", "value"]).and_then(common::content_text))
            .collect::<Vec<_>>()
            .join("\n");
        return Ok(detect_text(&text).unwrap_or(Format::ChatCompletions));
    }
    if group_chat::turns_of(v)
        .is_some_and(|turns| group_chat::shows_agent_actions(turns) || group_chat::all_name_speakers(turns))
    {
        return Ok(Format::GroupChat);
    }
    if let Some(text) = TEXT_KEYS.iter().find_map(|k| v.get(k).and_then(Json::as_str)) {
        if let Some(f) = detect_text(text) {
            return Ok(f);
        }
    }
    match v {
        Json::Object(fields) => Err(format!(
            "unrecognised record: none of the known formats has the keys {}",
            fields.iter().take(12).map(|(k, _)| format!("{k:?}")).collect::<Vec<_>>().join(", ")
        )),
        other => Err(format!("unrecognised record: {} is not a trajectory", other.type_name())),
    }
}

/// Detects a text transcript's format from its markers.
pub fn detect_text(text: &str) -> Option<Format> {
    if text.contains("<tool_call>") || text.contains("<tool_response>") {
        Some(Format::Qwen)
    } else if text.contains("<search>") || text.contains("<information>") {
        Some(Format::SearchR1)
    } else if react::looks_like(text) {
        Some(Format::React)
    } else {
        None
    }
}
