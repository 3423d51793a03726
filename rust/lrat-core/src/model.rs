//! The canonical trajectory model every input format is read into.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use arrow_buffer::Buffer;

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
    /// Multi-agent group chat turns (`name`, `content`) whose web-surfer turns show its searches and pages.
    GroupChat,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::BrowseComp,
        Format::ChatCompletions,
        Format::Responses,
        Format::Qwen,
        Format::SearchR1,
        Format::React,
        Format::GroupChat,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::BrowseComp => "browsecomp",
            Format::ChatCompletions => "chat_completions",
            Format::Responses => "responses",
            Format::Qwen => "qwen",
            Format::SearchR1 => "search_r1",
            Format::React => "react",
            Format::GroupChat => "group_chat",
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
            "group_chat" | "autogen" => Ok(Format::GroupChat),
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
            "completed" | "complete" | "success" | "succeeded" | "finished" | "done" | "correct" | "yes" | "true"
            | "pass" | "passed" | "solved" => Outcome::Completed,
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

/// Text that may share its bytes with the larger text it was cut from (a snippet and the search
/// output that holds it), so that neither reading nor building Arrow tables copies it: the Arrow
/// view arrays point into the same buffer.
#[derive(Clone, Default)]
pub struct SharedText {
    /// Holds UTF-8; `start..start + len` lies on character boundaries.
    whole: Buffer,
    start: usize,
    len: usize,
    /// The first bytes, kept from when the text was made (and its bytes were in cache) for its
    /// Arrow view, which holds them (see `head`).
    head: [u8; 12],
}

impl SharedText {
    fn new(whole: Buffer, start: usize, len: usize) -> SharedText {
        let mut head = [0; 12];
        let n = len.min(12);
        head[..n].copy_from_slice(&whole.as_slice()[start..start + n]);
        SharedText { whole, start, len, head }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: `whole` holds the bytes of a `str`, and the range was cut at character
        // boundaries of it (see `From<String>` and `within`).
        unsafe { std::str::from_utf8_unchecked(&self.whole.as_slice()[self.start..self.start + self.len]) }
    }

    /// `part` as a view into `owner` when it lies inside `owner`'s text, else a copy.
    pub fn within(owner: Option<&SharedText>, part: &str) -> SharedText {
        if let Some(owner) = owner {
            let text = owner.as_str();
            let (base, at) = (text.as_ptr() as usize, part.as_ptr() as usize);
            if at >= base && at + part.len() <= base + text.len() {
                // `part` is a `str` inside `text`, so its ends are character boundaries of it.
                return SharedText::new(owner.whole.clone(), owner.start + (at - base), part.len());
            }
        }
        SharedText::from(part)
    }

    /// The whole of `buffer` as text.
    ///
    /// # Safety
    /// `buffer` must hold valid UTF-8.
    pub unsafe fn from_utf8_buffer_unchecked(buffer: Buffer) -> SharedText {
        let len = buffer.len();
        SharedText::new(buffer, 0, len)
    }

    /// The buffer this text is part of, and where in it the text starts.
    pub fn buffer(&self) -> (&Buffer, usize) {
        (&self.whole, self.start)
    }

    /// The first 12 bytes (all of a shorter text, then zeros): what an Arrow view holds of it.
    pub fn head(&self) -> &[u8; 12] {
        &self.head
    }
}

impl From<String> for SharedText {
    fn from(text: String) -> SharedText {
        let len = text.len();
        SharedText::new(Buffer::from_vec(text.into_bytes()), 0, len)
    }
}

impl From<&str> for SharedText {
    fn from(text: &str) -> SharedText {
        SharedText::from(text.to_string())
    }
}

impl Deref for SharedText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for SharedText {
    fn eq(&self, other: &SharedText) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<str> for SharedText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SharedText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// One result of a search as the agent saw it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchHit {
    /// The docid, else the URL, else the title.
    pub doc_key: SharedText,
    pub title: Option<SharedText>,
    /// Without surrounding whitespace, and `None` rather than empty.
    pub snippet: Option<SharedText>,
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
    pub content: Option<SharedText>,
    /// Characters (not bytes) in `content`, counted when it was read, while in cache.
    pub content_chars: u64,
}

impl BrowseRecord {
    pub fn new(doc_key: Option<String>, ok: bool, content: Option<SharedText>) -> BrowseRecord {
        let content_chars = content.as_ref().map_or(0, |c| c.chars().count() as u64);
        BrowseRecord { doc_key, ok, content, content_chars }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: StepKind,
    pub tool_name: Option<String>,
    /// Reasoning text, the search query (the first one when the call carried several),
    /// the browse argument, the answer, or a tool's raw arguments.
    pub text: SharedText,
    /// Results of a search step, in rank order.
    pub hits: Vec<SearchHit>,
    /// Set on browse steps.
    pub browse: Option<BrowseRecord>,
}

impl Step {
    pub fn reason(text: impl Into<SharedText>) -> Step {
        Step { kind: StepKind::Reason, tool_name: None, text: text.into(), hits: Vec::new(), browse: None }
    }

    pub fn answer(text: impl Into<SharedText>) -> Step {
        Step { kind: StepKind::Answer, tool_name: None, text: text.into(), hits: Vec::new(), browse: None }
    }

    pub fn search(tool: Option<String>, query: impl Into<SharedText>, hits: Vec<SearchHit>) -> Step {
        Step { kind: StepKind::Search, tool_name: tool, text: query.into(), hits, browse: None }
    }

    pub fn browse(tool: Option<String>, argument: impl Into<SharedText>, browse: BrowseRecord) -> Step {
        Step { kind: StepKind::Browse, tool_name: tool, text: argument.into(), hits: Vec::new(), browse: Some(browse) }
    }

    pub fn tool(tool: Option<String>, arguments: impl Into<SharedText>) -> Step {
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
    pub final_answer: Option<SharedText>,
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

    /// Adds the agent's answer: an answer step, and the trajectory's `final_answer`.
    pub fn push_answer(&mut self, text: impl Into<SharedText>) {
        let text = text.into();
        self.final_answer = Some(text.clone());
        self.steps.push(Step::answer(text));
    }

    /// A completed BrowseComp trajectory with these steps and nothing else, for tests.
    #[cfg(test)]
    pub(crate) fn of_steps(steps: Vec<Step>) -> Trajectory {
        Trajectory {
            id: "t".into(),
            query_id: None,
            source: "test".into(),
            line: 1,
            format: Format::BrowseComp,
            question: None,
            final_answer: None,
            gold_answer: None,
            outcome: Outcome::Completed,
            metadata: None,
            steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SharedText;

    #[test]
    fn a_part_inside_its_owner_is_a_view_and_any_other_text_a_copy() {
        let owner = SharedText::from("DocID:1\n[Título]\nsnippet é one\n".to_string());
        let snippet = &owner.as_str()[18..32];
        let part = SharedText::within(Some(&owner), snippet);
        assert_eq!(part.as_str(), "snippet é one");
        assert_eq!(part.buffer().0.as_ptr(), owner.buffer().0.as_ptr());
        assert_eq!(part.buffer().1, 18);
        let nested = SharedText::within(Some(&part), &part.as_str()[8..]);
        assert_eq!((nested.as_str(), nested.buffer().1), ("é one", 26));

        let elsewhere = String::from("snippet é one");
        let copy = SharedText::within(Some(&owner), &elsewhere);
        assert_eq!(copy, part);
        assert_ne!(copy.buffer().0.as_ptr(), owner.buffer().0.as_ptr());
        assert_eq!(SharedText::within(None, "x").as_str(), "x");
        assert_eq!(SharedText::default().as_str(), "");
    }
}
