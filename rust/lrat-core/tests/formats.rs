//! Each format's fixture (`tests/fixtures/formats/`, shared with the Python tests) read through
//! `parse_record` with format detection.

use std::path::PathBuf;

use lrat_core::{parse_record, Format, FormatOptions, Location, Outcome, StepKind, Trajectory};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/formats").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses each line of a JSON-lines fixture; every record must parse without warnings.
fn read_lines(name: &str) -> Vec<Trajectory> {
    fixture(name)
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| read_record(name, i as u64 + 1, line))
        .collect()
}

fn read_record(name: &str, line: u64, text: &str) -> Trajectory {
    let location = Location { source: name.to_string(), line, byte_offset: 0 };
    let parsed = parse_record(text, &location, &FormatOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(parsed.warnings.is_empty(), "{name}:{line}: {:?}", parsed.warnings);
    assert_eq!(parsed.trajectories.len(), 1);
    parsed.trajectories.into_iter().next().unwrap()
}

/// Parses a fixture that is one record as a whole (a JSON document).
fn read_whole(name: &str) -> lrat_core::formats::Parsed {
    let location = Location { source: name.to_string(), line: 1, byte_offset: 0 };
    parse_record(&fixture(name), &location, &FormatOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn hit_keys(t: &Trajectory, search: usize) -> Vec<&str> {
    let s = t.steps.iter().filter(|s| s.kind == StepKind::Search).nth(search).unwrap();
    s.hits.iter().map(|h| h.doc_key.as_str()).collect()
}

fn browses(t: &Trajectory) -> Vec<(Option<&str>, bool)> {
    t.steps.iter().filter_map(|s| s.browse.as_ref()).map(|b| (b.doc_key.as_deref(), b.ok)).collect()
}

#[test]
fn chat_completions_fixture() {
    let ts = read_lines("chat_completions.jsonl");
    assert_eq!(ts.len(), 2);
    let t = &ts[0];
    assert_eq!(t.format, Format::ChatCompletions);
    assert_eq!((t.id.as_str(), t.query_id.as_deref()), ("chat-run-0001", Some("314")));
    assert_eq!(t.outcome, Outcome::Completed);
    assert_eq!((t.count(StepKind::Search), t.count(StepKind::Browse)), (2, 1));
    assert_eq!(hit_keys(t, 0), ["41203", "7719", "90215"]);
    assert_eq!(hit_keys(t, 1), ["7719", "5530"]);
    assert_eq!(browses(t), [(Some("7719"), true)]);
    assert!(t
        .steps
        .iter()
        .find(|s| s.kind == StepKind::Browse)
        .unwrap()
        .browse
        .as_ref()
        .unwrap()
        .content
        .as_deref()
        .unwrap()
        .contains("rue Rabelais"));
    assert_eq!(t.final_answer.as_deref(), Some("Paris"));
    assert_eq!(t.gold_answer.as_deref(), Some("Paris"));
    assert_eq!(t.metadata.as_deref(), Some(r#"{"model":"gpt-4.1-mini","retriever":"bm25"}"#));

    let t = &ts[1];
    assert_eq!(t.format, Format::ChatCompletions);
    assert_eq!(t.id, "chat_completions.jsonl:2");
    assert_eq!(t.query_id, None);
    assert_eq!(t.question.as_deref(), Some("Who directed the film that won the Palme d'Or in 1994?"));
    assert_eq!(t.steps[0].text, "Palme d'Or 1994 winner");
    assert_eq!(
        hit_keys(t, 0),
        ["https://en.wikipedia.org/wiki/Pulp_Fiction", "https://en.wikipedia.org/wiki/1994_Cannes_Film_Festival"]
    );
    assert_eq!(
        browses(t),
        [
            (Some("https://en.wikipedia.org/wiki/Pulp_Fiction"), true),
            (Some("https://www.imdb.com/title/tt0110912/"), false)
        ]
    );
    assert_eq!(t.final_answer.as_deref(), Some("Quentin Tarantino"));
    assert_eq!(t.outcome, Outcome::Unknown);
}

#[test]
fn responses_fixture() {
    let ts = read_lines("responses.jsonl");
    let t = &ts[0];
    assert_eq!(t.format, Format::Responses);
    assert_eq!((t.id.as_str(), t.query_id.as_deref()), ("resp_68a1", Some("77")));
    assert_eq!(
        t.question.as_deref(),
        Some("What year was the university attended by the author of 'Norwegian Wood' founded?")
    );
    assert_eq!((t.count(StepKind::Search), t.count(StepKind::Browse), t.count(StepKind::Reason)), (1, 2, 2));
    assert_eq!(t.steps[1].text, "Haruki Murakami university");
    assert_eq!(hit_keys(t, 0), ["3301", "9140", "1276"]);
    assert_eq!(t.steps[1].hits[1].title.as_deref(), Some("Waseda University"));
    assert_eq!(browses(t), [(Some("9140"), true), (Some("99999"), false)]);
    assert_eq!(t.final_answer.as_deref(), Some("1882"));
    assert_eq!(t.outcome, Outcome::Completed);
}

#[test]
fn qwen_fixture() {
    let ts = read_lines("qwen.jsonl");
    let t = &ts[0];
    assert_eq!(t.format, Format::Qwen);
    // One search call with two queries: its output holds one result block per query.
    assert_eq!((t.count(StepKind::Search), t.count(StepKind::Browse)), (2, 3));
    let queries: Vec<&str> = t.steps.iter().filter(|s| s.kind == StepKind::Search).map(|s| s.text.as_str()).collect();
    assert_eq!(queries, ["Johann Strauss II birthplace", "The Blue Danube composer born"]);
    assert_eq!(
        hit_keys(t, 1),
        ["https://www.britannica.com/topic/The-Blue-Danube", "https://en.wikipedia.org/wiki/Johann_Strauss_II"]
    );
    assert_eq!(
        hit_keys(t, 0),
        [
            "https://en.wikipedia.org/wiki/Johann_Strauss_II",
            "https://en.wikipedia.org/wiki/The_Blue_Danube",
            "https://www.wien.gv.at/neubau/st-ulrich"
        ]
    );
    assert_eq!(
        browses(t),
        [
            (Some("https://en.wikipedia.org/wiki/Johann_Strauss_II"), true),
            (Some("https://en.wikipedia.org/wiki/Vienna"), true),
            (Some("https://www.britannica.com/place/Vienna"), false)
        ]
    );
    assert_eq!(t.final_answer.as_deref(), Some("Danube"));
    assert_eq!(t.gold_answer.as_deref(), Some("Danube"));
    assert_eq!(t.steps.last().unwrap().kind, StepKind::Answer);
    assert!(t.question.as_deref().unwrap().starts_with("Which river runs through"));
}

#[test]
fn search_r1_fixtures() {
    let ts = read_lines("search_r1.jsonl");
    assert_eq!(ts.len(), 2);
    for t in &ts {
        assert_eq!(t.format, Format::SearchR1);
        assert_eq!(t.count(StepKind::Browse), 0);
    }
    let t = &ts[0];
    assert_eq!(t.query_id.as_deref(), Some("2wikimultihopqa_0042"));
    assert_eq!(t.count(StepKind::Search), 2);
    assert_eq!(hit_keys(t, 0), ["The Piano", "Jane Campion", "The Piano (soundtrack)"]);
    assert_eq!(hit_keys(t, 1), ["Jane Campion", "Campion (surname)"]);
    assert_eq!(t.final_answer.as_deref(), Some("30 April 1954"));
    assert_eq!(t.gold_answer.as_deref(), Some("30 April 1954"));
    let t = &ts[1];
    assert_eq!(t.question.as_deref(), Some("who wrote the novel that the film Blade Runner is based on?"));
    assert_eq!(hit_keys(t, 0), ["Blade Runner", "Do Androids Dream of Electric Sheep?"]);

    let text = fixture("search_r1.txt");
    let t = read_record("search_r1.txt", 1, &text);
    assert_eq!(t.format, Format::SearchR1);
    assert_eq!(t.question.as_deref(), Some("what is the birth date of the director of the film The Piano?"));
    assert_eq!((t.count(StepKind::Search), t.count(StepKind::Browse), t.count(StepKind::Reason)), (2, 0, 3));
    assert_eq!(t.steps[1].text, "The Piano film director");
    assert_eq!(hit_keys(&t, 0), hit_keys(&ts[0], 0));
    assert_eq!(t.final_answer.as_deref(), Some("30 April 1954"));
}

#[test]
fn react_fixture() {
    let text = fixture("react.txt");
    // The file holds two trajectories, each starting at its `Question:` line.
    let starts: Vec<usize> = text.match_indices("Question:").map(|(i, _)| i).collect();
    assert_eq!(starts.len(), 2);
    let first = read_record("react.txt", 1, &text[starts[0]..starts[1]]);
    let second = read_record("react.txt", 12, &text[starts[1]..]);

    assert_eq!(first.format, Format::React);
    assert_eq!(
        first.question.as_deref(),
        Some("Which magazine was started first Arthur's Magazine or First for Women?")
    );
    assert_eq!((first.count(StepKind::Search), first.count(StepKind::Browse)), (0, 2));
    assert_eq!(browses(&first), [(Some("Arthur's Magazine"), true), (Some("First for Women"), true)]);
    assert_eq!(first.final_answer.as_deref(), Some("Arthur's Magazine"));

    assert_eq!(second.format, Format::React);
    assert_eq!(
        (second.count(StepKind::Search), second.count(StepKind::Browse), second.count(StepKind::Tool)),
        (1, 1, 1)
    );
    assert_eq!(second.steps[1].text, "Oberoi family hotel company");
    assert_eq!(
        hit_keys(&second, 0),
        ["Oberoi family", "The Oberoi Group", "Oberoi Hotels & Resorts", "Mohan Singh Oberoi", "Oberoi Trident"]
    );
    assert_eq!(browses(&second), [(Some("The Oberoi Group"), true)]);
    assert_eq!(second.final_answer.as_deref(), Some("Delhi"));
}

#[test]
fn forced_format_mismatch_is_an_error_naming_the_record() {
    let options = FormatOptions { format: Some(Format::ChatCompletions), ..FormatOptions::default() };
    let location = Location { source: "react.txt".into(), line: 1, byte_offset: 0 };
    let err = parse_record(&fixture("react.txt"), &location, &options).unwrap_err();
    assert_eq!(err.to_string(), "react.txt:1 (byte 0): format chat_completions needs a JSON record, found text");
}

/// A JSON file whose top level is an object keyed by question id, each value one trajectory (ReAct
/// text in a field, a message list, or a bare transcript), with scores as outcomes.
#[test]
fn object_keyed_by_question_id() {
    let parsed = read_whole("keyed_by_question.json");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let ts = parsed.trajectories;
    let ids: Vec<_> = ts.iter().map(|t| t.query_id.as_deref().unwrap()).collect();
    assert_eq!(ids, ["hotpot_5a8b57f2", "hotpot_5a8c7595", "eiffel_1", "plain_text_3"]);
    let formats: Vec<_> = ts.iter().map(|t| t.format).collect();
    assert_eq!(formats, [Format::React, Format::React, Format::ChatCompletions, Format::React]);
    // reward 1; correct false (an outcome field wins over the score); em 1; a bare transcript states none.
    let outcomes: Vec<_> = ts.iter().map(|t| t.outcome).collect();
    assert_eq!(outcomes, [Outcome::Completed, Outcome::Failed, Outcome::Completed, Outcome::Unknown]);
    assert_eq!(ts[0].final_answer.as_deref(), Some("Arthur's Magazine"));
    assert_eq!(hit_keys(&ts[2], 0), ["7719", "41203"]);
    assert_eq!(browses(&ts[2]), [(Some("7719"), true)]);
    assert_eq!(ts[1].id, "keyed_by_question.json:1#1");
}

#[test]
fn numeric_and_score_outcomes() {
    let outcome = |fields: &str| {
        let record = format!(r#"{{"query_id": "q", "query": "x", "result": [], {fields}}}"#);
        read_record("inline", 1, &record).outcome
    };
    assert_eq!(outcome(r#""correct": 1"#), Outcome::Completed);
    assert_eq!(outcome(r#""correct": 0"#), Outcome::Failed);
    assert_eq!(outcome(r#""reward": 0.5"#), Outcome::Completed);
    assert_eq!(outcome(r#""reward": 0"#), Outcome::Failed);
    assert_eq!(outcome(r#""em": 1, "f1": 1.0"#), Outcome::Completed);
    assert_eq!(outcome(r#""em": 0.0"#), Outcome::Failed);
    assert_eq!(outcome(r#""verdict": "Yes""#), Outcome::Completed);
    assert_eq!(outcome(r#""judgement": "incorrect""#), Outcome::Failed);
    assert_eq!(outcome(r#""f1": 0.4"#), Outcome::Unknown);
}

/// MCP calls written as XML in the assistant's text, results in the next user message, in a task-result
/// file with the final answer and a judge's verdict.
#[test]
fn mcp_xml_task_result() {
    let parsed = read_whole("mcp_task_result.json");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let t = &parsed.trajectories[0];
    assert_eq!(t.format, Format::ChatCompletions);
    assert_eq!(
        (t.query_id.as_deref(), t.question.as_deref()),
        (Some("eiffel-1"), Some("When was the Eiffel Tower completed?"))
    );
    assert_eq!(t.outcome, Outcome::Completed, "the judge's verdict");
    assert_eq!(t.final_answer.as_deref(), Some("The tower was completed on 31 March 1889. \\boxed{31 March 1889}"));
    assert_eq!(
        hit_keys(t, 0),
        ["https://en.wikipedia.org/wiki/Eiffel_Tower", "https://www.britannica.com/topic/Eiffel-Tower-Paris-France"]
    );
    // The page is named by an http URL; it is the first result.
    assert_eq!(browses(t), [(Some("https://en.wikipedia.org/wiki/Eiffel_Tower"), true)]);
}

/// A W&B table export: rollouts of Responses items as Python-literal text or as lists; a row that
/// cannot be read is an error of its own and the other rows are kept.
#[test]
fn wandb_table_rows() {
    let parsed = read_whole("wandb_table.json");
    let ts = &parsed.trajectories;
    assert_eq!(ts.iter().map(|t| t.query_id.as_deref().unwrap()).collect::<Vec<_>>(), ["q1", "q2"]);
    assert!(ts.iter().all(|t| t.format == Format::Responses));
    assert_eq!((ts[0].outcome, ts[1].outcome), (Outcome::Completed, Outcome::Failed), "reward 1.0 and 0.0");
    assert_eq!(hit_keys(&ts[0], 0), ["d12", "d40"]);
    assert_eq!(browses(&ts[0]), [(Some("d12"), true)]);
    assert_eq!(ts[0].final_answer.as_deref(), Some("Frank Herbert"));
    assert_eq!(parsed.errors.len(), 1);
    assert!(parsed.errors[0].reason.starts_with("table row 2: no trajectory"), "{}", parsed.errors[0].reason);
}

/// Results listed by title, with or without a link; browses that name a page by another form of its URL,
/// or by its title.
#[test]
fn title_lists_and_browses_by_url_or_title() {
    let t = &read_lines("title_list_results.jsonl")[0];
    assert_eq!(
        hit_keys(t, 0),
        ["https://en.wikipedia.org/wiki/Lyon", "https://en.wikipedia.org/wiki/Rh%C3%B4ne", "Saône"]
    );
    assert_eq!(browses(t), [(Some("https://en.wikipedia.org/wiki/Rh%C3%B4ne"), true), (Some("Saône"), true)]);
}

#[test]
fn qwen_calls_in_chat_messages_with_multi_query_searches() {
    let parsed = read_whole("qwen_calls_in_chat.json");
    assert!(parsed.warnings.is_empty() && parsed.errors.is_empty(), "{:?}", parsed.warnings);
    let t = &parsed.trajectories[0];
    assert_eq!(t.format, Format::Qwen, "`<tool_call>` in the text of a chat answered by `tool` messages");
    assert_eq!(
        t.question.as_deref(),
        Some("Which river runs through the birthplace of the composer of the Radetzky March?")
    );
    let queries: Vec<_> = t.steps.iter().filter(|s| s.kind == StepKind::Search).map(|s| s.text.as_str()).collect();
    assert_eq!(queries, ["Radetzky March composer", "Johann Strauss I birthplace"], "one search per query block");
    assert_eq!(
        hit_keys(t, 0),
        ["https://en.wikipedia.org/wiki/Radetzky_March", "https://www.britannica.com/biography/Johann-Strauss-I"]
    );
    assert_eq!(
        hit_keys(t, 1),
        ["https://en.wikipedia.org/wiki/Johann_Strauss_I", "https://en.wikipedia.org/wiki/Leopoldstadt"]
    );
    let first = &t.steps.iter().find(|s| s.kind == StepKind::Search).unwrap().hits[0];
    assert!(first.snippet.as_deref().unwrap().ends_with("composed by Johann Strauss I in 1848."));
    assert_eq!(
        browses(t),
        [
            (Some("https://en.wikipedia.org/wiki/Johann_Strauss_I"), true),
            (Some("https://en.wikipedia.org/wiki/Leopoldstadt"), true)
        ]
    );
    assert_eq!(t.final_answer.as_deref(), Some("The Danube"));
    assert_eq!(t.metadata, None);
}

#[test]
fn group_chat_web_surfer_turns() {
    let ts = read_lines("group_chat.jsonl");
    let t = &ts[0];
    assert_eq!(t.format, Format::GroupChat);
    assert_eq!(t.question.as_deref(), Some("How tall was the Eiffel Tower when it opened, in metres?"));
    let kinds: Vec<_> = t.steps.iter().map(|s| s.kind).collect();
    use StepKind::*;
    assert_eq!(kinds, [Reason, Search, Browse, Reason, Reason], "TERMINATE is no step");
    assert_eq!(t.steps[1].text, "Eiffel Tower height 1889");
    assert_eq!(
        hit_keys(t, 0),
        [
            "https://en.wikipedia.org/wiki/Eiffel_Tower",
            "https://www.toureiffel.paris/en/the-monument/key-figures",
            "https://en.wikipedia.org/wiki/Exposition_Universelle_(1889)"
        ]
    );
    assert_eq!(t.steps[1].hits[0].snippet.as_deref(), Some("The tower was 312 metres tall when it opened in 1889."));
    assert_eq!(browses(t), [(Some("https://www.toureiffel.paris/en/the-monument/key-figures"), true)]);
    assert!(t.steps[2].browse.as_ref().unwrap().content.as_deref().unwrap().contains("312 m"));
    assert_eq!(t.outcome, Outcome::Unknown, "a mistake annotation states no outcome");
    assert_eq!(t.metadata.as_deref(), Some(r#"{"mistake_step":"3","mistake_agent":"Verification_Expert"}"#));

    let t = &ts[1];
    assert_eq!((t.format, t.query_id.as_deref()), (Format::GroupChat, None));
    let queries: Vec<_> = t.steps.iter().filter(|s| s.kind == Search).map(|s| s.text.as_str()).collect();
    assert_eq!(queries, ["Danube source", "Danube length"], "one search per header");
    assert_eq!(hit_keys(t, 0).len(), 2);
    assert_eq!(hit_keys(t, 1), ["https://www.britannica.com/place/Danube-River"]);
    assert_eq!(
        browses(t),
        [(Some("https://en.wikipedia.org/wiki/Danube"), true)],
        "the page takes the key of the result it shows"
    );
    assert_eq!((t.outcome, t.gold_answer.as_deref()), (Outcome::Completed, Some("Black Forest")));
}

#[test]
fn smolagents_team_with_a_managed_agents_memory() {
    let parsed = read_whole("smolagents_team.json");
    let t = &parsed.trajectories[0];
    assert_eq!(parsed.warnings.len(), 1, "python_interpreter is an unknown tool: {:?}", parsed.warnings);
    assert_eq!(t.format, Format::GroupChat);
    assert_eq!(t.question.as_deref(), Some("In which year was the Eiffel Tower completed?"));
    let kinds: Vec<_> = t.steps.iter().map(|s| s.kind).collect();
    use StepKind::*;
    assert_eq!(
        kinds,
        [Reason, Reason, Tool, Reason, Search, Browse, Reason, Reason, Answer],
        "the system turn is dropped; the managed agent's steps follow the call that ran it"
    );
    assert_eq!(t.steps[6].text, "Completed in 1889.", "the managed agent's final answer is its report");
    assert_eq!(t.steps[4].text, "Eiffel Tower completed year");
    assert_eq!(
        hit_keys(t, 0),
        ["https://en.wikipedia.org/wiki/Eiffel_Tower", "https://www.britannica.com/biography/Gustave-Eiffel"]
    );
    assert_eq!(browses(t), [(Some("https://en.wikipedia.org/wiki/Eiffel_Tower"), true)]);
    let page = t.steps[5].browse.as_ref().unwrap().content.as_deref().unwrap();
    assert!(page.ends_with("Construction finished on 31 March 1889."), "a `---` line inside a page cuts nothing");
    assert_eq!(t.final_answer.as_deref(), Some("1889"), "`final_answer(\"1889\")` run as code");
}

#[test]
fn group_chat_magentic_one_web_surfer_and_chats_without_actions() {
    let ts = read_lines("group_chat.jsonl");
    let t = &ts[2];
    assert_eq!(t.format, Format::GroupChat);
    let kinds: Vec<_> = t.steps.iter().map(|s| s.kind).collect();
    use StepKind::*;
    assert_eq!(kinds, [Reason, Reason, Search, Browse, Reason, Browse, Reason], "a scroll is no new page");
    assert_eq!(t.steps[2].text, "Eiffel Tower height", "the typed text is the query");
    let shown = hit_keys(t, 0);
    assert_eq!(shown.len(), 2);
    assert!(shown[1].starts_with("Key figures - Eiffel Tower"));
    assert_eq!(
        browses(t),
        [(Some(shown[1]), true), (Some("https://en.wikipedia.org/wiki/Gustave_Eiffel"), true)],
        "a click on a shown result takes its key; one on a link of the page, the page's URL"
    );
    let t = &ts[3];
    assert_eq!((t.format, t.steps.len()), (Format::GroupChat, 3), "speakers named, no action: still a group chat");
}
