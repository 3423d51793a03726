//! ReAct transcripts: `Question: …` then `Thought n: … / Action n: Search[x] | Lookup[x] | Finish[x] /
//! Observation n: …` (numbers optional, action names in any case). The actions follow the Wikipedia-API
//! agents of the ReAct family: `Search[entity]` opens the page titled `entity` (a browse keyed by that
//! title) unless the observation says `Could not find …`, in which case it is a search whose results are
//! the titles of `Similar: ['A', 'B', …]`; `Lookup[x]` searches inside the open page (a `lookup` tool
//! step); `Finish[x]` is the answer. Other actions, and the `Action: name` + `Action Input: x` form, are
//! tool calls classified by their name. When the text holds several `Question:` lines (a few-shot prompt
//! before the trajectory), the trajectory is the part after the last.

use std::borrow::Cow;

use super::common::{browse_text_status, content_text, read_record_fields, tool_call_steps};
use super::{Ctx, MESSAGE_KEYS, TEXT_KEYS};
use crate::json::Json;
use crate::model::{BrowseRecord, Format, Outcome, SearchHit, SharedText, Step, Trajectory};

const LOOKUP_TOOL: &str = "lookup";

/// Whether the text reads as a ReAct transcript: an `Action` line next to a `Thought` or `Observation` line.
pub fn looks_like(text: &str) -> bool {
    let (mut action, mut other) = (false, false);
    for line in text.lines() {
        match marker(line) {
            Some((Marker::Action, _)) => action = true,
            Some((Marker::Thought | Marker::Observation, _)) => other = true,
            _ => {}
        }
        if action && other {
            return true;
        }
    }
    false
}

pub fn parse_text(text: &str, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let mut t = ctx.trajectory(Format::React);
    read_transcript(text, &mut t, ctx)?;
    Ok(t)
}

pub fn parse_json(v: &Json, ctx: &mut Ctx) -> Result<Trajectory, String> {
    let mut t = ctx.trajectory(Format::React);
    let mut consumed = MESSAGE_KEYS.to_vec();
    let messages = match v {
        Json::Array(list) => Some(list.as_slice()),
        _ => MESSAGE_KEYS.iter().find_map(|k| v.get(k).and_then(Json::as_array)),
    };
    let transcript: Cow<str> = if let Some(list) = messages {
        let kept: Vec<&Json> = list
            .iter()
            .filter(|m| !matches!(m.get_any(&["role", "from"]).and_then(Json::as_str), Some("system" | "developer")))
            .collect();
        let mut texts: Vec<String> =
            kept.iter().filter_map(|m| m.get_any(&["content", "value"]).and_then(content_text)).collect();
        // A first user message that is the bare question (FireAct) is the question.
        let first_is_user =
            kept.first().and_then(|m| m.get_any(&["role", "from"])).and_then(Json::as_str) == Some("user");
        if let Some(first) = texts.first_mut().filter(|_| first_is_user) {
            if !first.lines().any(|l| marker(l).is_some()) {
                first.insert_str(0, "Question: ");
            }
        }
        Cow::Owned(texts.join("\n"))
    } else if let Some((key, text)) = TEXT_KEYS.iter().find_map(|k| v.get(k).and_then(Json::as_str).map(|s| (*k, s))) {
        consumed.push(key);
        Cow::Borrowed(text)
    } else {
        return Err(format!(
            "no ReAct transcript: expected a list of messages or one of the fields {}",
            TEXT_KEYS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ));
    };
    read_transcript(&transcript, &mut t, ctx)?;
    read_record_fields(v, &consumed, &mut t)?;
    Ok(t)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Marker {
    Question,
    Thought,
    Action,
    ActionInput,
    Observation,
    FinalAnswer,
}

/// `Thought 3: text` → (Thought, "text"). Accepts a capitalised or lower-case marker word.
fn marker(line: &str) -> Option<(Marker, &str)> {
    let line = line.trim_start();
    const WORDS: &[(&str, Marker)] = &[
        ("Question", Marker::Question),
        ("Thought", Marker::Thought),
        ("Action Input", Marker::ActionInput),
        ("Action", Marker::Action),
        ("Observation", Marker::Observation),
        ("Final Answer", Marker::FinalAnswer),
    ];
    for (word, m) in WORDS {
        let Some(head) = line.get(..word.len()) else { continue };
        if !(head == *word || head == word.to_ascii_lowercase()) {
            continue;
        }
        let rest = line[word.len()..].trim_start_matches(' ').trim_start_matches(|c: char| c.is_ascii_digit());
        if let Some(body) = rest.strip_prefix(':') {
            return Some((*m, body.trim()));
        }
    }
    None
}

/// The transcript as marked blocks; lines without a marker continue the block before them. A
/// `Question:` line that runs on into `Thought 1:` (as Reflexion's logs print it) is two blocks.
fn blocks(text: &str) -> Vec<(Marker, String)> {
    let mut out: Vec<(Marker, String)> = Vec::new();
    for line in text.lines() {
        match marker(line) {
            Some((Marker::Question, body)) => match run_on_thought(body) {
                Some(at) => {
                    out.push((Marker::Question, body[..at].trim().to_string()));
                    let (m, thought) = marker(&body[at..]).unwrap_or((Marker::Thought, ""));
                    out.push((m, thought.to_string()));
                }
                None => out.push((Marker::Question, body.to_string())),
            },
            Some((m, body)) => out.push((m, body.to_string())),
            None => {
                if let Some((_, body)) = out.last_mut() {
                    body.push('\n');
                    body.push_str(line);
                }
            }
        }
    }
    for (_, body) in &mut out {
        let trimmed = body.trim_end().len();
        body.truncate(trimmed);
    }
    if let Some(last_question) = out.iter().rposition(|(m, _)| *m == Marker::Question) {
        out.drain(..last_question);
    }
    out
}

/// Where a `Thought n:` marker starts inside a question's line.
fn run_on_thought(question: &str) -> Option<usize> {
    question
        .match_indices("Thought")
        .map(|(at, _)| at)
        .find(|&at| at > 0 && matches!(marker(&question[at..]), Some((Marker::Thought, _))))
}

/// Lines that grade the run (Reflexion): `Answer is CORRECT`, `Answer is INCORRECT`, and `Correct
/// answer: x`, the reference answer; the Wikipedia environment's `Episode finished, reward = r`.
enum Grade<'l> {
    Outcome(Outcome),
    Reference(&'l str),
}

fn grade(line: &str) -> Option<Grade<'_>> {
    let l = line.trim();
    if let Some(answer) = l.strip_prefix("Correct answer:") {
        return Some(Grade::Reference(answer.trim()));
    }
    if let Some(verdict) = l.strip_prefix("Answer is ") {
        return match verdict.trim_end_matches(['.', '!']) {
            "CORRECT" | "correct" | "Correct" => Some(Grade::Outcome(Outcome::Completed)),
            "INCORRECT" | "incorrect" | "Incorrect" => Some(Grade::Outcome(Outcome::Failed)),
            _ => None,
        };
    }
    let reward = match l.strip_prefix("Episode finished, reward =")?.trim() {
        "True" | "true" => 1.0,
        "False" | "false" => 0.0,
        r => r.parse::<f64>().ok()?,
    };
    Some(Grade::Outcome(if reward > 0.0 { Outcome::Completed } else { Outcome::Failed }))
}

/// Lines of a run log's frame rather than of a trajectory: Reflexion's `#####` rules, `BEGIN TRIAL n`,
/// `Trial summary: …` and `----- BEGIN CORRECT AGENTS -----` section headers.
pub fn is_frame(line: &str) -> bool {
    let l = line.trim();
    (l.len() >= 5 && l.bytes().all(|b| b == b'#'))
        || l.starts_with("BEGIN TRIAL")
        || l.starts_with("END TRIAL")
        || l.starts_with("Trial summary:")
        || (l.starts_with("-----") && l.ends_with("-----") && l.contains(" AGENTS "))
}

/// Reads the grading lines out of the blocks into the trajectory and drops them, and the log's frame
/// lines, from the text. A graded run that never gave an answer (Reflexion's halted agents) failed.
fn read_grades(blocks: &mut [(Marker, String)], t: &mut Trajectory) {
    let mut graded = false;
    for (_, body) in blocks.iter_mut() {
        if !body.lines().any(|l| grade(l).is_some() || is_frame(l)) {
            continue;
        }
        let mut kept = Vec::new();
        for line in body.lines() {
            match grade(line) {
                Some(Grade::Outcome(o)) => t.outcome = o,
                Some(Grade::Reference(answer)) => {
                    graded = true;
                    if !answer.is_empty() {
                        t.gold_answer = Some(answer.to_string());
                    }
                }
                None if is_frame(line) => {}
                None => kept.push(line),
            }
        }
        *body = kept.join("\n").trim_end().to_string();
    }
    let answered = blocks.iter().any(|(m, body)| {
        *m == Marker::FinalAnswer
            || (*m == Marker::Action && body.trim_start().to_ascii_lowercase().starts_with("finish["))
    });
    if graded && !answered && t.outcome == Outcome::Unknown {
        t.outcome = Outcome::Failed;
    }
}

/// A `Question:` entry with a grading line and no step, as Reflexion lists questions solved in an
/// earlier trial.
pub fn is_graded_question_without_steps(text: &str) -> bool {
    let (mut question, mut graded) = (false, false);
    for line in text.lines() {
        match marker(line) {
            Some((Marker::Question, _)) => question = true,
            Some(_) => return false,
            None => graded |= matches!(grade(line), Some(Grade::Reference(_))),
        }
    }
    question && graded
}

/// Text that Reflexion runs on into the question's line.
const REFLEXION_HEADER: &str = "You have attempted to answer following question before and failed";

/// The question of a `Question:` block: its first line, without a prompt run on into it.
fn question_of(body: &str) -> Option<String> {
    let line = body.lines().next().unwrap_or("");
    let line = line.find(REFLEXION_HEADER).map_or(line, |at| &line[..at]);
    let q = line.trim().trim_end_matches('"').trim();
    (!q.is_empty()).then(|| q.to_string())
}

fn read_transcript(text: &str, t: &mut Trajectory, ctx: &mut Ctx) -> Result<(), String> {
    let mut blocks = blocks(text);
    read_grades(&mut blocks, t);
    if !blocks.iter().any(|(m, _)| matches!(m, Marker::Action | Marker::Thought | Marker::FinalAnswer)) {
        return Err("no ReAct steps: expected `Thought n:` / `Action n:` / `Observation n:` lines".into());
    }
    let mut i = 0;
    while i < blocks.len() {
        let (m, body) = &blocks[i];
        i += 1;
        match m {
            Marker::Question => {
                if t.question.is_none() {
                    t.question = question_of(body);
                }
            }
            Marker::Thought => {
                if !body.is_empty() {
                    t.steps.push(Step::reason(body.as_str()));
                }
            }
            Marker::FinalAnswer => {
                t.push_answer(body.as_str());
            }
            Marker::Action => {
                let (name, argument, bracketed) = match blocks.get(i) {
                    Some((Marker::ActionInput, input)) if !body.contains('[') => {
                        i += 1;
                        (body.trim().to_string(), input.trim().to_string(), false)
                    }
                    _ => split_action(body),
                };
                let observation = match blocks.get(i) {
                    Some((Marker::Observation, o)) => {
                        i += 1;
                        Some(o.as_str())
                    }
                    _ => None,
                };
                action_steps(&name, &argument, bracketed, observation, t, ctx);
            }
            Marker::ActionInput | Marker::Observation => {}
        }
    }
    Ok(())
}

/// `Search[Milhouse]` → ("Search", "Milhouse", true); an action without brackets is a bare name.
fn split_action(body: &str) -> (String, String, bool) {
    let body = body.trim();
    match body.find('[') {
        Some(open) => {
            let inner = &body[open + 1..];
            let arg = inner.rfind(']').map_or(inner, |close| &inner[..close]);
            (body[..open].trim().to_string(), arg.trim().to_string(), true)
        }
        None => (body.to_string(), String::new(), false),
    }
}

fn action_steps(
    name: &str,
    argument: &str,
    bracketed: bool,
    observation: Option<&str>,
    t: &mut Trajectory,
    ctx: &mut Ctx,
) {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "finish" if bracketed => {
            t.push_answer(argument);
        }
        "lookup" if bracketed => t.steps.push(Step::tool(Some(LOOKUP_TOOL.to_string()), argument)),
        "search" if bracketed => {
            let tool = Some("search".to_string());
            let obs = observation.map(str::trim);
            match obs {
                // A lookup that missed lists similar titles; the environment's "Could not find that
                // page, please try again." (a malformed action) is a failed browse.
                Some(o)
                    if (o.starts_with("Could not find") && o.contains("Similar:"))
                        || o.starts_with("There were no results") =>
                {
                    t.steps.push(Step::search(tool, argument, similar_titles(o)));
                }
                _ => {
                    let ok = obs.is_some_and(|o| browse_text_status(o).1);
                    let record = BrowseRecord::new(
                        Some(argument.to_string()).filter(|a| !a.is_empty()),
                        ok,
                        obs.map(SharedText::from),
                    );
                    t.steps.push(Step::browse(tool, argument, record));
                }
            }
        }
        _ => {
            let output = observation.map(|o| Json::Str(Cow::Borrowed(o)));
            let arguments = Json::Str(Cow::Borrowed(argument));
            tool_call_steps(ctx, &lower, &arguments, output.as_ref(), &mut t.steps);
        }
    }
}

/// The titles of `… Similar: ['A', "B's", …]`, in order, as hits keyed by title.
fn similar_titles(observation: &str) -> Vec<SearchHit> {
    let Some(at) = observation.find("Similar:") else { return Vec::new() };
    let list = &observation[at + "Similar:".len()..];
    let Some(open) = list.find('[') else { return Vec::new() };
    let mut hits = Vec::new();
    let mut chars = list[open + 1..].chars();
    while let Some(c) = chars.next() {
        match c {
            ']' => break,
            '\'' | '"' => {
                let quote = c;
                let mut title = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => title.extend(chars.next()),
                        c if c == quote => break,
                        c => title.push(c),
                    }
                }
                if !title.trim().is_empty() {
                    let title = title.trim().to_string();
                    let title = SharedText::from(title);
                    hits.push(SearchHit { doc_key: title.clone(), title: Some(title), snippet: None, score: None });
                }
            }
            _ => {}
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;
    use crate::model::StepKind;
    use crate::tools::ToolNames;

    fn run(f: impl FnOnce(&mut Ctx) -> Result<Trajectory, String>) -> (Result<Trajectory, String>, Vec<String>) {
        let location = Location { source: "r.txt".into(), line: 1, byte_offset: 0 };
        let tools = ToolNames::default();
        let mut ctx = Ctx::new(&location, &tools);
        let t = f(&mut ctx);
        (t, ctx.unknown_tools)
    }

    const MILHOUSE: &str = "Question: Musician and satirist Allie Goertz wrote a song about the \"The Simpsons\" character Milhouse, who Matt Groening named after who?
Thought 1: I only need to search Milhouse and find who it is named after.
Action 1: Search[Milhouse Van Houten]
Observation 1: Could not find [Milhouse Van Houten]. Similar: ['Milhouse Van Houten', \"Milhouse's Dad\", 'The Simpsons (season 1)'].
Thought 2: Search the exact title.
Action 2: search[Milhouse Van Houten]
Observation 2: Milhouse Mussolini Van Houten is a recurring character in the Fox animated television series The Simpsons.
It continues here.
Thought 3: The paragraph does not tell who Milhouse is named after, maybe I can look up \"named after\".
Action 3: Lookup[named after]
Observation 3: (Result 1 / 1) Milhouse was named after U.S. president Richard Nixon, whose middle name was Milhous.
Thought 4: Milhouse was named after U.S. president Richard Nixon.
Action 4: Finish[Richard Nixon]
Observation 4: Episode finished, reward = 1
";

    #[test]
    fn wikipedia_actions() {
        assert!(looks_like(MILHOUSE));
        let (t, unknown) = run(|ctx| parse_text(MILHOUSE, ctx));
        let t = t.unwrap();
        assert!(unknown.is_empty(), "lookup is not an unknown tool");
        assert!(t.question.as_deref().unwrap().starts_with("Musician and satirist"));
        use StepKind::*;
        let kinds: Vec<_> = t.steps.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [Reason, Search, Reason, Browse, Reason, Tool, Reason, Answer]);
        let search = &t.steps[1];
        assert_eq!(search.text, "Milhouse Van Houten");
        assert_eq!(
            search.hits.iter().map(|h| h.doc_key.as_str()).collect::<Vec<_>>(),
            ["Milhouse Van Houten", "Milhouse's Dad", "The Simpsons (season 1)"]
        );
        let b = t.steps[3].browse.as_ref().unwrap();
        assert_eq!((b.doc_key.as_deref(), b.ok), (Some("Milhouse Van Houten"), true));
        assert!(b.content.as_deref().unwrap().ends_with("It continues here."));
        assert_eq!((t.steps[5].tool_name.as_deref(), t.steps[5].text.as_str()), (Some("lookup"), "named after"));
        assert_eq!(t.final_answer.as_deref(), Some("Richard Nixon"));
    }

    #[test]
    fn few_shot_prefix_unnumbered_and_langchain_style() {
        let text = "Question: example q\nThought: ex\nAction: Finish[ex]\n\nQuestion: real q\nThought: go\nAction: Search[Foo]\nObservation:\nAction: Calculator\nAction Input: 2*3\nObservation: 6\nAction: web_search\nAction Input: foo bar\nObservation: 1. [Foo](https://foo.example)\nFinal Answer: 6";
        let (t, unknown) = run(|ctx| parse_text(text, ctx));
        let t = t.unwrap();
        assert_eq!(unknown, ["calculator"]);
        assert_eq!(t.question.as_deref(), Some("real q"));
        let b = t.steps[1].browse.as_ref().unwrap();
        assert!(!b.ok, "an empty observation is a failed browse");
        assert_eq!((t.steps[2].kind, t.steps[2].text.as_str()), (StepKind::Tool, "2*3"));
        assert_eq!((t.steps[3].kind, t.steps[3].text.as_str()), (StepKind::Search, "foo bar"));
        assert_eq!(t.steps[3].hits[0].doc_key, "https://foo.example");
        assert_eq!(t.final_answer.as_deref(), Some("6"));
    }

    #[test]
    fn reflexion_run_on_question_and_grading_lines() {
        let text = "Question: Were Scott Derrickson and Ed Wood of the same nationality?Thought 1: I need to search Scott Derrickson.\nAction 1: Search[Scott Derrickson]\nObservation 1: Scott Derrickson is an American director.\nThought 2: Both are American.\nAction 2: Finish[yes]\nObservation 2: Answer is CORRECT\nCorrect answer: yes\n";
        assert!(looks_like(text));
        let (t, _) = run(|ctx| parse_text(text, ctx));
        let t = t.unwrap();
        assert_eq!(t.question.as_deref(), Some("Were Scott Derrickson and Ed Wood of the same nationality?"));
        assert_eq!(t.steps[0].text, "I need to search Scott Derrickson.");
        assert_eq!(t.outcome, Outcome::Completed);
        assert_eq!(t.gold_answer.as_deref(), Some("yes"));
        assert_eq!(t.final_answer.as_deref(), Some("yes"));

        let wrong = "Question: q?Thought: t\nAction: Finish[no]\nObservation: Answer is INCORRECT";
        let (t, _) = run(|ctx| parse_text(wrong, ctx));
        assert_eq!(t.unwrap().outcome, Outcome::Failed);
        let (t, _) = run(|ctx| parse_text(MILHOUSE, ctx));
        assert_eq!(t.unwrap().outcome, Outcome::Completed, "reward = 1");
        // Reflexion: the reflection header runs on into the question, reflections follow it; a halted
        // agent (graded, never finished) failed; section headers are not part of any step.
        let text = "Question: Who is older?\"You have attempted to answer following question before and failed. Use them.\nReflections:\n- I looped.\nThought 1: search\nAction 1: Search[A]\nObservation 1: A is old.\nCorrect answer: A\n\n------------- BEGIN HALTED AGENTS --------------\n";
        let (t, _) = run(|ctx| parse_text(text, ctx));
        let t = t.unwrap();
        assert_eq!(t.question.as_deref(), Some("Who is older?"));
        assert_eq!((t.outcome, t.gold_answer.as_deref()), (Outcome::Failed, Some("A")));
        assert_eq!(t.steps[1].browse.as_ref().unwrap().content.as_deref(), Some("A is old."));
        assert!(is_graded_question_without_steps("Question: q?\nCorrect answer: a\n"));
        let (t, _) = run(|ctx| {
            parse_text("Question: q\nAction 1: Search[A], Search[B]\nObservation 1: Could not find that page, please try again.", ctx)
        });
        let t = t.unwrap();
        assert_eq!((t.steps[0].kind, t.steps[0].browse.as_ref().map(|b| b.ok)), (StepKind::Browse, Some(false)));
        assert!(!is_graded_question_without_steps(text));
        // A question that merely mentions thoughts is not cut there.
        let (t, _) =
            run(|ctx| parse_text("Question: Thoughts on Thought Police?\nThought 1: x\nAction 1: Finish[y]", ctx));
        assert_eq!(t.unwrap().question.as_deref(), Some("Thoughts on Thought Police?"));
    }

    #[test]
    fn message_list_with_a_bare_question() {
        // FireAct: the question alone in the first user message, observations in user messages.
        let v = Json::parse(
            r#"{"reward": true, "traj": [{"role": "user", "content": "Who created American Dad?"},
                {"role": "assistant", "content": "Thought: It is Seth MacFarlane.\nAction: finish[Seth MacFarlane]"},
                {"role": "user", "content": "Observation: Episode finished, reward = True"}]}"#,
        )
        .unwrap();
        let (t, _) = run(|ctx| parse_json(&v, ctx));
        let t = t.unwrap();
        assert_eq!(t.question.as_deref(), Some("Who created American Dad?"));
        assert_eq!((t.final_answer.as_deref(), t.outcome), (Some("Seth MacFarlane"), Outcome::Completed));
        assert_eq!(
            grade("Episode finished, reward = False").map(|g| matches!(g, Grade::Outcome(Outcome::Failed))),
            Some(true)
        );
    }

    #[test]
    fn json_record_and_errors() {
        let v = Json::parse(
            r#"{"question_idx": 7, "answer": "Nixon", "gt_answer": "Richard Nixon", "em": 0,
                "traj": "Question: who?\nThought 1: t\nAction 1: Search[X]\nObservation 1: X is a thing."}"#,
        )
        .unwrap();
        let (t, _) = run(|ctx| parse_json(&v, ctx));
        let t = t.unwrap();
        assert_eq!(t.query_id.as_deref(), Some("7"));
        assert_eq!(t.gold_answer.as_deref(), Some("Richard Nixon"));
        assert_eq!(t.final_answer.as_deref(), Some("Nixon"), "the agent's answer field fills in for a missing Finish");
        assert_eq!(t.metadata.as_deref(), Some(r#"{"em":0}"#));
        assert_eq!(t.outcome, crate::model::Outcome::Failed, "em 0 is a failure");
        assert_eq!(t.count(StepKind::Browse), 1);

        assert!(!looks_like("Question: q\nAnswer: a"));
        let (e, _) = run(|ctx| parse_text("Question: q\nsome text", ctx));
        assert!(e.unwrap_err().starts_with("no ReAct steps"));
    }
}
