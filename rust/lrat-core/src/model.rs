//! The canonical trajectory model every input format is read into.

use std::fmt;
use std::str::FromStr;

/// The log format a record was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// BrowseComp-Plus / LRAT run JSON (`query_id`, `result: [{type, tool_name, arguments, output}]`).
    BrowseComp,
    /// OpenAI Chat Completions message list (`role`, `tool_calls`, `tool_call_id`).
    ChatCompletions,
    /// OpenAI Responses API items (`reasoning`, `function_call`, `function_call_output`, `message`).
    Responses,
    /// Qwen-agent / Tongyi chat text with `<tool_call>` and `<tool_response>` tags.
    Qwen,
    /// Search-R1 tag stream (`<search>`, `<information>`, `<answer>`).
    SearchR1,
    /// ReAct `Thought / Action / Observation` text.
    React,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::BrowseComp,
        Format::ChatCompletions,
        Format::Responses,
        Format::Qwen,
        Format::SearchR1,
        Format::React,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::BrowseComp => "browsecomp",
            Format::ChatCompletions => "chat_completions",
            Format::Responses => "responses",
            Format::Qwen => "qwen",
            Format::SearchR1 => "search_r1",
            Format::React => "react",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        match norm.as_str() {
            "browsecomp" | "browsecomp_plus" | "lrat" => Ok(Format::BrowseComp),
            "chat_completions" | "chat" | "openai_chat" => Ok(Format::ChatCompletions),
            "responses" | "openai_responses" => Ok(Format::Responses),
            "qwen" | "qwen_agent" | "tongyi" => Ok(Format::Qwen),
            "search_r1" | "searchr1" => Ok(Format::SearchR1),
            "react" => Ok(Format::React),
            _ => Err(format!(
                "unknown format {s:?}; expected one of auto, {}",
                Format::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// How the trajectory ended, as far as its log says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Completed,
    Failed,
    Unknown,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        }
    }

    /// Reads a run file's `status` (or similar) field.
    pub fn from_status(status: &str) -> Outcome {
        let s = status.trim().to_ascii_lowercase();
        match s.as_str() {
            "completed" | "complete" | "success" | "succeeded" | "finished" | "done" | "correct" => {
                Outcome::Completed
            }
            "" | "unknown" => Outcome::Unknown,
            _ => Outcome::Failed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    Reason,
    Search,
    Browse,
    Answer,
    /// A call of a tool that is neither search nor browse.
    Tool,
}

impl StepKind {
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Reason => "reason",
            StepKind::Search => "search",
            StepKind::Browse => "browse",
            StepKind::Answer => "answer",
            StepKind::Tool => "tool",
        }
    }
}

/// One result of a search as the agent saw it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchHit {
    /// The docid, else the URL, else the title.
    pub doc_key: String,
    pub title: Option<String>,
    pub snippet: Option<String>,
    pub score: Option<f64>,
}

/// What a browse call read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BrowseRecord {
    /// The document the call named; `None` when its argument could not be read.
    pub doc_key: Option<String>,
    /// False when the tool answered with an error.
    pub ok: bool,
    /// The text the agent read (the tool's output).
    pub content: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: StepKind,
    pub tool_name: Option<String>,
    /// Reasoning text, the search query (the first one when the call carried several),
    /// the browse argument, the answer, or a tool's raw arguments.
    pub text: String,
    /// Results of a search step, in rank order.
    pub hits: Vec<SearchHit>,
    /// Set on browse steps.
    pub browse: Option<BrowseRecord>,
}

impl Step {
    pub fn reason(text: impl Into<String>) -> Step {
        Step { kind: StepKind::Reason, tool_name: None, text: text.into(), hits: Vec::new(), browse: None }
    }

    pub fn answer(text: impl Into<String>) -> Step {
        Step { kind: StepKind::Answer, tool_name: None, text: text.into(), hits: Vec::new(), browse: None }
    }

    pub fn search(tool: Option<String>, query: impl Into<String>, hits: Vec<SearchHit>) -> Step {
        Step { kind: StepKind::Search, tool_name: tool, text: query.into(), hits, browse: None }
    }

    pub fn browse(tool: Option<String>, argument: impl Into<String>, browse: BrowseRecord) -> Step {
        Step { kind: StepKind::Browse, tool_name: tool, text: argument.into(), hits: Vec::new(), browse: Some(browse) }
    }

    pub fn tool(tool: Option<String>, arguments: impl Into<String>) -> Step {
        Step { kind: StepKind::Tool, tool_name: tool, text: arguments.into(), hits: Vec::new(), browse: None }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// The record's own id when it has one, else `<file>:<line>`.
    pub id: String,
    /// The task's id (`query_id`, `question_id`, …) when the log has one.
    pub query_id: Option<String>,
    pub source: String,
    pub line: u64,
    pub format: Format,
    pub question: Option<String>,
    /// The agent's final answer.
    pub final_answer: Option<String>,
    /// The reference answer stored in the log, if any.
    pub gold_answer: Option<String>,
    pub outcome: Outcome,
    /// Other fields of the record, as JSON text.
    pub metadata: Option<String>,
    pub steps: Vec<Step>,
}

impl Trajectory {
    pub fn count(&self, kind: StepKind) -> usize {
        self.steps.iter().filter(|s| s.kind == kind).count()
    }
}
