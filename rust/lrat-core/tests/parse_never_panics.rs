//! `parse_record` returns a trajectory or an error for any input, under detection and under every
//! forced format: arbitrary strings, token soups of the formats' keys and tags, and mutated fixtures.

use std::path::PathBuf;

use lrat_core::{parse_record, Format, FormatOptions, Location};
use proptest::prelude::*;
use proptest::sample::Index;

/// The fixture records, read once (a long fuzz run asks for them a million times).
fn fixtures() -> &'static [String] {
    static RECORDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    RECORDS.get_or_init(read_fixtures)
}

fn read_fixtures() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/formats");
    let mut records = Vec::new();
    for name in ["chat_completions.jsonl", "responses.jsonl", "qwen.jsonl", "search_r1.jsonl", "group_chat.jsonl"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        records.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
    }
    for name in [
        "search_r1.txt",
        "react.txt",
        "reflexion_react.txt",
        "mcp_task_result.json",
        "wandb_table.json",
        "title_list_results.jsonl",
        "qwen_calls_in_chat.json",
        "smolagents_team.json",
    ] {
        records.push(std::fs::read_to_string(dir.join(name)).unwrap());
    }
    records
}

fn format_choice() -> impl Strategy<Value = Option<Format>> {
    prop_oneof![Just(None), proptest::sample::select(Format::ALL.to_vec()).prop_map(Some)]
}

fn check(text: &str, format: Option<Format>) {
    let location = Location { source: "fuzz".into(), line: 1, byte_offset: 0 };
    let options = FormatOptions { format, ..FormatOptions::default() };
    if let Ok(parsed) = parse_record(text, &location, &options) {
        assert!(!parsed.trajectories.is_empty());
    }
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "1",
    "\"x\"",
    "\"role\"",
    "\"assistant\"",
    "\"tool\"",
    "\"user\"",
    "\"content\"",
    "\"tool_calls\"",
    "\"function\"",
    "\"name\"",
    "\"arguments\"",
    "\"search\"",
    "\"get_document\"",
    "\"tool_call_id\"",
    "\"id\"",
    "\"messages\"",
    "\"type\"",
    "\"function_call\"",
    "\"function_call_output\"",
    "\"reasoning\"",
    "\"call_id\"",
    "\"output\"",
    "\"result\"",
    "\"summary\"",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<answer>",
    "</answer>",
    "<search>",
    "</search>",
    "<information>",
    "</information>",
    "Doc 1(Title: ",
    "Doc 2(Title: ",
    ")",
    "(",
    "Question: ",
    "Thought 1: ",
    "Action 1: ",
    "Observation 1: ",
    "Search[",
    "Lookup[",
    "Finish[",
    "Could not find x. Similar: ['a', \"b",
    "DocID:",
    "Document 3:",
    "1. [t](https://u)",
    "<|im_start|>assistant",
    "<|im_end|>",
    "\n",
    " ",
    "é",
    "\\",
    "\\\"",
];

fn token_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(TOKENS), 0..60).prop_map(|t| t.concat())
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index, usize),
    Insert(Index, String),
    Truncate(Index),
    Duplicate(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), prop_oneof![token_soup(), any::<String>()]).prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1usize..200).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

/// Applies mutations at character boundaries, so the result stays a valid `&str`.
fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
        match m {
            Mutation::Delete(i, n) => {
                let start = at(i, chars.len()).min(chars.len());
                let end = (start + n).min(chars.len());
                chars.drain(start..end);
            }
            Mutation::Insert(i, s) => {
                let pos = at(i, chars.len());
                chars.splice(pos..pos, s.chars());
            }
            Mutation::Truncate(i) => chars.truncate(at(i, chars.len())),
            Mutation::Duplicate(i, n) => {
                let start = at(i, chars.len()).min(chars.len());
                let end = (start + n).min(chars.len());
                let copy: Vec<char> = chars[start..end].to_vec();
                chars.splice(end..end, copy);
            }
        }
    }
    chars.into_iter().collect()
}

/// Cases per property: `LRAT_FUZZ_PARSE_CASES` (the long run is `benches/fuzz.sh`), else 512.
fn cases() -> u32 {
    std::env::var("LRAT_FUZZ_PARSE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(text in any::<String>(), format in format_choice()) {
        check(&text, format);
    }

    #[test]
    fn token_soups(text in token_soup(), format in format_choice()) {
        check(&text, format);
    }

    #[test]
    fn mutated_fixtures(which in any::<Index>(), mutations in proptest::collection::vec(mutation(), 1..6), format in format_choice()) {
        let records = fixtures();
        let record = &records[which.index(records.len())];
        check(&mutate(record, &mutations), format);
    }
}

#[test]
fn unmutated_fixtures_parse_under_detection() {
    for record in fixtures() {
        let location = Location { source: "fixture".into(), line: 1, byte_offset: 0 };
        parse_record(record, &location, &FormatOptions::default()).unwrap();
    }
}
