//! Fields whose JSON type is not the one their format defines: a number where an id or a query
//! belongs, an object where a question belongs. A number is read as its text (the meaning is
//! unambiguous); anything else is ignored. Either way the field is reported, once per record, so
//! that a batch job counts wrong types per field and a strict one rejects the record.
//!
//! The readers meet these fields deep inside the format parsers, so what they meet is collected on
//! the parsing thread for the duration of one `collect` call (one record), not passed by hand
//! through every helper.

use std::cell::RefCell;

use crate::json::Json;

/// What the reader did with a wrong-typed field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Treatment {
    ReadAsText,
    Ignored,
}

/// One wrong-typed field met in a record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WrongType {
    pub field: String,
    pub found: &'static str,
    pub treatment: Treatment,
}

impl WrongType {
    pub fn reason(&self) -> String {
        let done = match self.treatment {
            Treatment::ReadAsText => "read as text",
            Treatment::Ignored => "ignored",
        };
        format!("wrong type: `{}` is {}, {done}", self.field, self.found)
    }
}

thread_local! {
    static MET: RefCell<Option<Vec<WrongType>>> = const { RefCell::new(None) };
}

/// Runs `parse` and returns what it returned with the wrong-typed fields it met, each once, in
/// field order. Calls nest: an inner call collects its own.
pub fn collect<T>(parse: impl FnOnce() -> T) -> (T, Vec<WrongType>) {
    let outer = MET.with(|m| m.borrow_mut().replace(Vec::new()));
    let value = parse();
    let mut met = MET.with(|m| std::mem::replace(&mut *m.borrow_mut(), outer)).unwrap_or_default();
    met.sort();
    met.dedup();
    (value, met)
}

fn note(field: &str, found: &'static str, treatment: Treatment) {
    MET.with(|m| {
        if let Some(met) = m.borrow_mut().as_mut() {
            if !met.iter().any(|w| w.field == field && w.found == found && w.treatment == treatment) {
                met.push(WrongType { field: field.to_string(), found, treatment });
            }
        }
    });
}

/// A field that holds one piece of text (an id, a name, a query, a title): its trimmed text,
/// `None` when absent, null or blank. A number is read as its text; a boolean, list or object is
/// ignored. Both are reported.
pub fn text(v: &Json, field: &str) -> Option<String> {
    match v {
        Json::Null => None,
        Json::Str(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_string())
        }
        Json::Int(_) | Json::UInt(_) | Json::Float(_) => {
            note(field, v.type_name(), Treatment::ReadAsText);
            number_text(v)
        }
        other => {
            note(field, other.type_name(), Treatment::Ignored);
            None
        }
    }
}

/// A piece of text in a tool call's arguments (a query, a document id). The agent wrote these and
/// the tool accepted them: a number there (`get_document({"docid": 6053813})`, as in the
/// BrowseComp-Plus logs) is the agent's way of writing the id, read as its text without a report.
/// Other non-text values are ignored and reported as in `text`.
pub fn argument_text(v: &Json, field: &str) -> Option<String> {
    match v {
        Json::Int(_) | Json::UInt(_) | Json::Float(_) => number_text(v),
        other => text(other, field),
    }
}

/// The text of a number as its writer meant it: an integral float without its `.0`.
fn number_text(v: &Json) -> Option<String> {
    match v {
        Json::Float(f) => Some(v.as_key().unwrap_or_else(|| f.to_string())),
        other => other.as_key(),
    }
}

/// The first of `keys` present and not null in the object `v`, with its key.
pub fn entry<'v, 'a>(v: &'v Json<'a>, keys: &[&'static str]) -> Option<(&'static str, &'v Json<'a>)> {
    keys.iter().find_map(|&k| v.get(k).filter(|x| !x.is_null()).map(|x| (k, x)))
}

/// `text` of the first of `keys` present in `v`.
pub fn text_at(v: &Json, keys: &[&'static str]) -> Option<String> {
    let (key, value) = entry(v, keys)?;
    text(value, key)
}

/// Reports a field of a type its reader cannot use at all.
pub fn ignored(field: &str, v: &Json) {
    if !v.is_null() {
        note(field, v.type_name(), Treatment::Ignored);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_text_and_reported_once() {
        let ((a, b, c), met) = collect(|| {
            (text(&Json::Int(42), "docid"), text(&Json::Float(7.0), "docid"), text(&Json::Str("x".into()), "query"))
        });
        assert_eq!((a.as_deref(), b.as_deref(), c.as_deref()), (Some("42"), Some("7"), Some("x")));
        assert_eq!(met, vec![WrongType { field: "docid".into(), found: "a number", treatment: Treatment::ReadAsText }]);
        assert_eq!(met[0].reason(), "wrong type: `docid` is a number, read as text");
    }

    #[test]
    fn lists_objects_and_booleans_are_ignored_and_reported() {
        let (out, met) = collect(|| {
            [text(&Json::Array(vec![]), "question"), text(&Json::Bool(true), "query_id"), text(&Json::Null, "id")]
        });
        assert_eq!(out, [None, None, None]);
        let reasons: Vec<String> = met.iter().map(WrongType::reason).collect();
        assert_eq!(
            reasons,
            ["wrong type: `query_id` is a boolean, ignored", "wrong type: `question` is a list, ignored"]
        );
    }

    #[test]
    fn numbers_in_tool_arguments_are_ids_as_the_agent_wrote_them() {
        let ((id, query), met) =
            collect(|| (argument_text(&Json::Int(6053813), "docid"), argument_text(&Json::Bool(true), "query")));
        assert_eq!((id.as_deref(), query), (Some("6053813"), None));
        assert_eq!(
            met.iter().map(WrongType::reason).collect::<Vec<_>>(),
            ["wrong type: `query` is a boolean, ignored"]
        );
    }

    #[test]
    fn nothing_is_collected_outside_a_collect_call_and_inner_calls_keep_their_own() {
        text(&Json::Int(1), "outside");
        let ((_, inner), outer) = collect(|| {
            text(&Json::Int(1), "outer");
            collect(|| text(&Json::Int(2), "inner"))
        });
        assert_eq!(outer.iter().map(|w| w.field.as_str()).collect::<Vec<_>>(), ["outer"]);
        assert_eq!(inner.iter().map(|w| w.field.as_str()).collect::<Vec<_>>(), ["inner"]);
    }
}
