//! Weights & Biases table exports: `{"columns": [names], "data": [[cells], …]}`, one trajectory per
//! row. A row is read as the object of its columns. Cells that hold JSON or a Python literal as text
//! (`"[{'type': 'function_call', …}]"`, as `str()` of a list writes it) are read as what they hold.
//! The trajectory is the row itself when it reads as a record of a known format; otherwise the first
//! column holding a message list or a list of Responses items, or else the Responses items found one
//! per cell, in column order.

use std::borrow::Cow;

use super::{messages_of, python_literal, response_items_of, RESPONSE_ITEM_TYPES};
use crate::json::Json;

/// The column names and rows when `v` is a table export.
pub fn table<'v, 'a>(v: &'v Json<'a>) -> Option<(Vec<&'v str>, &'v [Json<'a>])> {
    let columns = v.get("columns")?.as_array()?;
    let data = v.get("data")?.as_array()?;
    let names: Vec<&str> = columns.iter().map(Json::as_str).collect::<Option<_>>()?;
    (!names.is_empty() && data.iter().all(|row| row.as_array().is_some())).then_some((names, data))
}

/// Row `r` as a record: the object of its columns, with the trajectory where the format readers look
/// for it.
pub fn row_record<'v, 'a>(columns: &[&'v str], row: &'v Json<'a>) -> Result<Json<'v>, String> {
    let cells = row.as_array().unwrap_or_default();
    if cells.len() != columns.len() {
        return Err(format!("has {} cells for {} columns", cells.len(), columns.len()));
    }
    let mut fields: Vec<(Cow<'v, str>, Json<'v>)> =
        columns.iter().zip(cells).map(|(name, cell)| (Cow::Borrowed(*name), read_cell(cell))).collect();
    let record = Json::Object(fields.clone());
    if super::detect_json(&record).is_ok() {
        return Ok(record);
    }
    if let Some(i) = fields.iter().position(|(_, v)| holds_items(v)) {
        let key = if response_items_of(&fields[i].1).is_some() { "output" } else { "messages" };
        fields.retain(|(k, _)| k != key);
        let at = fields.iter().position(|(_, v)| holds_items(v)).unwrap_or(0);
        fields[at].0 = Cow::Borrowed(key);
        return Ok(Json::Object(fields));
    }
    let items: Vec<Json> = fields.iter().filter(|(_, v)| is_response_item(v)).map(|(_, v)| v.clone()).collect();
    if !items.is_empty() && response_items_of(&Json::Array(items.clone())).is_some() {
        fields.retain(|(_, v)| !is_response_item(v));
        fields.push((Cow::Borrowed("output"), Json::Array(items)));
        return Ok(Json::Object(fields));
    }
    Err(format!(
        "no trajectory: none of the columns {} holds a message list or Responses items",
        columns.iter().take(12).map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
    ))
}

/// A cell as the value it holds: text that is JSON or a Python literal of a list or dict is parsed.
fn read_cell<'v, 'a>(cell: &'v Json<'a>) -> Json<'v> {
    let Json::Str(text) = cell else { return cell.clone() };
    let t = text.trim();
    if t.starts_with('[') || t.starts_with('{') {
        if let Ok(v) = Json::parse(t) {
            return v;
        }
        if python_literal::looks_like(t) {
            if let Ok(v) = python_literal::parse(t) {
                return v;
            }
        }
    }
    Json::Str(Cow::Borrowed(text.as_ref()))
}

fn holds_items(v: &Json) -> bool {
    matches!(v, Json::Array(_)) && (response_items_of(v).is_some() || messages_of(v).is_some())
}

fn is_response_item(v: &Json) -> bool {
    v.get("type").and_then(Json::as_str).is_some_and(|t| RESPONSE_ITEM_TYPES.contains(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_with_items_in_a_python_literal_cell() {
        let v = Json::parse(
            r#"{"columns": ["qid", "rollout", "reward"], "data": [
                ["q1", "[{'type': 'function_call', 'name': 'search', 'arguments': '{\"query\": \"x\"}', 'call_id': 'c1'}]", 1.0],
                ["q2", "not a list", 0.0],
                ["q3"]
            ]}"#,
        )
        .unwrap();
        let (columns, rows) = table(&v).unwrap();
        let first = row_record(&columns, &rows[0]).unwrap();
        assert_eq!(first.get("output").and_then(Json::as_array).map(<[_]>::len), Some(1));
        assert_eq!(first.get("qid").and_then(Json::as_str), Some("q1"));
        assert!(row_record(&columns, &rows[1]).unwrap_err().starts_with("no trajectory"));
        assert_eq!(row_record(&columns, &rows[2]).unwrap_err(), "has 1 cells for 3 columns");
    }

    #[test]
    fn items_one_per_cell() {
        let v = Json::parse(
            r#"{"columns": ["step_0", "step_1", "em"], "data": [[
                {"type": "function_call", "name": "search", "arguments": "{}", "call_id": "a"},
                "{'type': 'function_call_output', 'call_id': 'a', 'output': 'DocID:1'}", 1]]}"#,
        )
        .unwrap();
        let (columns, rows) = table(&v).unwrap();
        let record = row_record(&columns, &rows[0]).unwrap();
        assert_eq!(record.get("output").and_then(Json::as_array).map(<[_]>::len), Some(2));
        assert_eq!(record.get("em").and_then(Json::as_f64), Some(1.0));
    }

    #[test]
    fn not_a_table() {
        assert!(table(&Json::parse(r#"{"columns": [1], "data": []}"#).unwrap()).is_none());
        assert!(table(&Json::parse(r#"{"columns": ["a"], "data": [1]}"#).unwrap()).is_none());
    }
}
