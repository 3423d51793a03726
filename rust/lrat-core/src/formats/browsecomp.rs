//! BrowseComp-Plus / LRAT run files: `{query_id, query, answer?, status, metadata, result: [steps]}`
//! with steps `{type: reasoning | tool_call | output_text, tool_name, arguments, output}`.

use super::common::{answer_text, record_outcome, tool_call_steps};
use super::field_types;
use super::Ctx;
use crate::json::Json;
use crate::model::{Format, Step, Trajectory};

const KNOWN_FIELDS: &[&str] = &["query_id", "id", "trajectory_id", "query", "question", "answer", "status", "result"];

/// Reads a record.
pub fn parse(v: &Json, ctx: &mut Ctx) -> Result<Trajectory, String> {
    if !matches!(v, Json::Object(_)) {
        return Err(format!("a BrowseComp record must be an object, found {}", v.type_name()));
    }
    let result = v.get("result").ok_or("missing field `result` (the list of steps)")?;
    if result.as_array().is_none() {
        return Err(format!("field `result` is {}, expected a list of steps", result.type_name()));
    }

    let mut t = ctx.trajectory(Format::BrowseComp);
    if let Some(id) = field_types::text_at(v, &["trajectory_id", "id"]) {
        t.id = id;
    }
    t.query_id = field_types::text_at(v, &["query_id"]);
    t.question = field_types::entry(v, &["query", "question"]).and_then(|(key, q)| answer_text(q, key));
    t.gold_answer = v.get("answer").and_then(|a| answer_text(a, "answer"));
    t.outcome = record_outcome(v)?;

    let items = match v.get("result") {
        Some(Json::Array(items)) => items,
        _ => return Err("field `result` is not a list of steps".into()),
    };
    for (i, item) in items.iter().enumerate() {
        let kind = match item.get("type") {
            Some(Json::Str(s)) => StepType::of(s),
            Some(other) => return Err(format!("result[{i}].type is {}, expected a string", other.type_name())),
            None => return Err(format!("result[{i}] has no `type`")),
        };
        match kind {
            StepType::Reasoning => {
                let text = item
                    .get_any(&["output", "text", "content", "summary"])
                    .and_then(|c| ctx.content(c))
                    .unwrap_or_default();
                t.steps.push(Step::reason(text));
            }
            StepType::ToolCall => {
                let name = match item.get_any(&["tool_name", "name"]) {
                    Some(Json::Str(s)) => s.as_ref(),
                    Some(other) => {
                        return Err(format!("result[{i}].tool_name is {}, expected a string", other.type_name()))
                    }
                    None => return Err(format!("result[{i}] is a tool call without `tool_name`")),
                };
                let arguments = item.field("arguments");
                tool_call_steps(ctx, name, arguments, item.get("output"), &mut t.steps);
            }
            StepType::Answer => {
                let text =
                    item.get_any(&["output", "text", "content"]).and_then(|c| ctx.content(c)).unwrap_or_default();
                t.push_answer(text);
            }
            StepType::Unknown => {
                let other = item.field("type").as_str().unwrap_or_default();
                return Err(format!("result[{i}] has unknown type {other:?}"));
            }
        }
    }

    let extra: Vec<_> = v
        .as_object()
        .unwrap_or_default()
        .iter()
        .filter(|(k, _)| !KNOWN_FIELDS.contains(&k.as_ref()))
        .cloned()
        .collect();
    if !extra.is_empty() {
        t.metadata = Some(Json::Object(extra).to_json_string());
    }
    Ok(t)
}

enum StepType {
    Reasoning,
    ToolCall,
    Answer,
    Unknown,
}

impl StepType {
    fn of(kind: &str) -> StepType {
        match kind {
            "reasoning" | "thinking" | "reason" => StepType::Reasoning,
            "tool_call" | "function_call" | "tool" => StepType::ToolCall,
            "output_text" | "answer" | "final_answer" | "message" => StepType::Answer,
            _ => StepType::Unknown,
        }
    }
}
