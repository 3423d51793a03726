//! The canonical model as Arrow record batches: the tables `trajectories`, `steps`,
//! `search_results`, `browses` and `errors` (their columns are documented in the README).

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, StringViewBuilder, UInt32Builder, UInt64Builder};
use arrow_array::{RecordBatch, StringViewArray};
use arrow_buffer::{Buffer, NullBufferBuilder, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use rustc_hash::FxHashMap;

use crate::model::{BrowseRecord, SharedText, Step, StepKind, Trajectory};
use crate::pipeline::Issue;
use crate::pool::pool;

fn field(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

pub fn trajectories_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("trajectory_id", DataType::Utf8View, false),
        field("query_id", DataType::Utf8View, true),
        field("source", DataType::Utf8View, false),
        field("line", DataType::UInt64, false),
        field("format", DataType::Utf8View, false),
        field("question", DataType::Utf8View, true),
        field("final_answer", DataType::Utf8View, true),
        field("gold_answer", DataType::Utf8View, true),
        field("outcome", DataType::Utf8View, false),
        field("n_steps", DataType::UInt32, false),
        field("n_searches", DataType::UInt32, false),
        field("n_browses", DataType::UInt32, false),
        field("metadata", DataType::Utf8View, true),
    ]))
}

pub fn steps_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("trajectory_id", DataType::Utf8View, false),
        field("step", DataType::UInt32, false),
        field("kind", DataType::Utf8View, false),
        field("tool_name", DataType::Utf8View, true),
        field("text", DataType::Utf8View, false),
    ]))
}

pub fn search_results_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("trajectory_id", DataType::Utf8View, false),
        field("step", DataType::UInt32, false),
        field("rank", DataType::UInt32, false),
        field("doc_key", DataType::Utf8View, false),
        field("title", DataType::Utf8View, true),
        field("snippet", DataType::Utf8View, true),
        field("score", DataType::Float64, true),
    ]))
}

pub fn browses_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("trajectory_id", DataType::Utf8View, false),
        field("step", DataType::UInt32, false),
        field("doc_key", DataType::Utf8View, true),
        field("ok", DataType::Boolean, false),
        field("content_length", DataType::UInt64, false),
        field("content", DataType::Utf8View, true),
    ]))
}

pub fn errors_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("source", DataType::Utf8View, false),
        field("line", DataType::UInt64, false),
        field("byte_offset", DataType::UInt64, false),
        field("severity", DataType::Utf8View, false),
        field("reason", DataType::Utf8View, false),
    ]))
}

/// One batch of each table.
pub struct Tables {
    pub trajectories: RecordBatch,
    pub steps: RecordBatch,
    pub search_results: RecordBatch,
    pub browses: RecordBatch,
    pub errors: RecordBatch,
}

/// Each table as a list of batches (built in parallel, one per slice of the trajectories).
pub struct TableChunks {
    pub trajectories: Vec<RecordBatch>,
    pub steps: Vec<RecordBatch>,
    pub search_results: Vec<RecordBatch>,
    pub browses: Vec<RecordBatch>,
    pub errors: Vec<RecordBatch>,
}

/// Builds the tables on the pool, in slices of at least `min_slice` trajectories.
pub fn build_chunks(
    trajectories: &[Trajectory],
    issues: &[Issue],
    include_content: bool,
) -> Result<TableChunks, ArrowError> {
    let threads = pool().current_num_threads().max(1);
    let slice = trajectories.len().div_ceil(threads * 2).max(256);
    let parts: Vec<Result<Tables, ArrowError>> = pool()
        .install(|| trajectories.par_chunks(slice.max(1)).map(|part| build(part, &[], include_content)).collect());
    let mut chunks = TableChunks {
        trajectories: Vec::new(),
        steps: Vec::new(),
        search_results: Vec::new(),
        browses: Vec::new(),
        errors: vec![errors_batch(issues)?],
    };
    for part in parts {
        let t = part?;
        chunks.trajectories.push(t.trajectories);
        chunks.steps.push(t.steps);
        chunks.search_results.push(t.search_results);
        chunks.browses.push(t.browses);
    }
    Ok(chunks)
}

/// A string view column built without reading its texts again: a `SharedText`'s view comes from
/// its kept head and its place in the buffer it shares (added once, as a block). Views made from
/// texts parsed long before would otherwise miss the cache once per value. A text in a buffer too
/// large for a view's offsets is copied into one block of the column's own.
struct ViewColumn {
    views: Vec<u128>,
    nulls: NullBufferBuilder,
    blocks: Vec<Buffer>,
    /// Index in `blocks` of each shared buffer, by its address; the last one is kept apart.
    block_of: FxHashMap<usize, u32>,
    last_block: Option<(usize, u32)>,
    /// Copied values, which become the block at `copied_block`.
    copied: Vec<u8>,
    copied_block: Option<u32>,
}

/// Values up to this length are held in the view itself.
const MAX_INLINE: usize = 12;
/// Blocks stay under this, so that offsets fit in a view's signed 32 bits.
const MAX_BLOCK: usize = i32::MAX as usize;

fn view(len: usize, head: &[u8; 12], block: u32, offset: u32) -> u128 {
    let mut v = [0u8; 16];
    v[..4].copy_from_slice(&(len as u32).to_le_bytes());
    if len <= MAX_INLINE {
        v[4..].copy_from_slice(head);
    } else {
        v[4..8].copy_from_slice(&head[..4]);
        v[8..12].copy_from_slice(&block.to_le_bytes());
        v[12..].copy_from_slice(&offset.to_le_bytes());
    }
    u128::from_le_bytes(v)
}

impl ViewColumn {
    fn with_capacity(rows: usize) -> Self {
        ViewColumn {
            views: Vec::with_capacity(rows),
            nulls: NullBufferBuilder::new(rows),
            blocks: Vec::new(),
            block_of: FxHashMap::default(),
            last_block: None,
            copied: Vec::new(),
            copied_block: None,
        }
    }

    fn append_null(&mut self) {
        self.views.push(0);
        self.nulls.append_null();
    }

    fn append_shared(&mut self, text: Option<&SharedText>) {
        let Some(text) = text else { return self.append_null() };
        let (buffer, start) = text.buffer();
        let block = if text.len() <= MAX_INLINE {
            0
        } else if buffer.len() > MAX_BLOCK {
            return self.append_copy(text);
        } else {
            let address = buffer.as_ptr() as usize;
            match self.last_block {
                Some((last, block)) if last == address => block,
                _ => {
                    let next = self.blocks.len() as u32;
                    let block = *self.block_of.entry(address).or_insert(next);
                    if block == next {
                        self.blocks.push(buffer.clone());
                    }
                    self.last_block = Some((address, block));
                    block
                }
            }
        };
        self.views.push(view(text.len(), text.head(), block, start as u32));
        self.nulls.append_non_null();
    }

    /// Appends a long text by copying it into the column's own block (its buffer is too large to
    /// point into).
    fn append_copy(&mut self, text: &SharedText) {
        if self.copied.len() + text.len() > MAX_BLOCK {
            self.flush_copied();
        }
        let block = match self.copied_block {
            Some(block) => block,
            None => {
                self.blocks.push(Buffer::from_vec(Vec::<u8>::new()));
                *self.copied_block.insert(self.blocks.len() as u32 - 1)
            }
        };
        let offset = self.copied.len() as u32;
        self.copied.extend_from_slice(text.as_bytes());
        self.views.push(view(text.len(), text.head(), block, offset));
        self.nulls.append_non_null();
    }

    /// Puts the copied values in their block and starts a new one.
    fn flush_copied(&mut self) {
        if let Some(block) = self.copied_block.take() {
            self.blocks[block as usize] = Buffer::from_vec(std::mem::take(&mut self.copied));
        }
    }

    fn finish(mut self) -> StringViewArray {
        self.flush_copied();
        let ViewColumn { views, mut nulls, blocks, .. } = self;
        // SAFETY: each view holds its value inline, or points at a range of its block that holds a
        // `str` (the `SharedText` invariant, or a copy of one), with the value's first bytes.
        unsafe { StringViewArray::new_unchecked(ScalarBuffer::from(views), blocks, nulls.finish()) }
    }
}

/// The trajectories table's columns, one row per trajectory.
struct TrajectoryColumns {
    id: StringViewBuilder,
    query_id: StringViewBuilder,
    source: StringViewBuilder,
    line: UInt64Builder,
    format: StringViewBuilder,
    question: StringViewBuilder,
    final_answer: ViewColumn,
    gold_answer: StringViewBuilder,
    outcome: StringViewBuilder,
    steps: UInt32Builder,
    searches: UInt32Builder,
    browses: UInt32Builder,
    metadata: StringViewBuilder,
}

impl TrajectoryColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            id: StringViewBuilder::with_capacity(n),
            query_id: StringViewBuilder::with_capacity(n),
            source: StringViewBuilder::with_capacity(n),
            line: UInt64Builder::with_capacity(n),
            format: StringViewBuilder::with_capacity(n),
            question: StringViewBuilder::with_capacity(n),
            final_answer: ViewColumn::with_capacity(n),
            gold_answer: StringViewBuilder::with_capacity(n),
            outcome: StringViewBuilder::with_capacity(n),
            steps: UInt32Builder::with_capacity(n),
            searches: UInt32Builder::with_capacity(n),
            browses: UInt32Builder::with_capacity(n),
            metadata: StringViewBuilder::with_capacity(n),
        }
    }

    fn push(&mut self, t: &Trajectory) {
        self.id.append_value(&t.id);
        self.query_id.append_option(t.query_id.as_deref());
        self.source.append_value(&t.source);
        self.line.append_value(t.line);
        self.format.append_value(t.format.name());
        self.question.append_option(t.question.as_deref());
        self.final_answer.append_shared(t.final_answer.as_ref());
        self.gold_answer.append_option(t.gold_answer.as_deref());
        self.outcome.append_value(t.outcome.name());
        self.steps.append_value(t.steps.len() as u32);
        self.searches.append_value(t.count(StepKind::Search) as u32);
        self.browses.append_value(t.count(StepKind::Browse) as u32);
        self.metadata.append_option(t.metadata.as_deref());
    }

    fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            trajectories_schema(),
            vec![
                Arc::new(self.id.finish()),
                Arc::new(self.query_id.finish()),
                Arc::new(self.source.finish()),
                Arc::new(self.line.finish()),
                Arc::new(self.format.finish()),
                Arc::new(self.question.finish()),
                Arc::new(self.final_answer.finish()),
                Arc::new(self.gold_answer.finish()),
                Arc::new(self.outcome.finish()),
                Arc::new(self.steps.finish()),
                Arc::new(self.searches.finish()),
                Arc::new(self.browses.finish()),
                Arc::new(self.metadata.finish()),
            ],
        )
    }
}

/// The steps table's columns, one row per step.
struct StepColumns {
    id: ViewColumn,
    step: UInt32Builder,
    kind: StringViewBuilder,
    tool: StringViewBuilder,
    text: ViewColumn,
}

impl StepColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            id: ViewColumn::with_capacity(n),
            step: UInt32Builder::with_capacity(n),
            kind: StringViewBuilder::with_capacity(n),
            tool: StringViewBuilder::with_capacity(n),
            text: ViewColumn::with_capacity(n),
        }
    }

    fn push(&mut self, id: &SharedText, i: u32, step: &Step) {
        self.id.append_shared(Some(id));
        self.step.append_value(i);
        self.kind.append_value(step.kind.name());
        self.tool.append_option(step.tool_name.as_deref());
        self.text.append_shared(Some(&step.text));
    }

    fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            steps_schema(),
            vec![
                Arc::new(self.id.finish()),
                Arc::new(self.step.finish()),
                Arc::new(self.kind.finish()),
                Arc::new(self.tool.finish()),
                Arc::new(self.text.finish()),
            ],
        )
    }
}

/// The search_results table's columns, one row per result shown.
struct ResultColumns {
    id: ViewColumn,
    step: UInt32Builder,
    rank: UInt32Builder,
    key: ViewColumn,
    title: ViewColumn,
    snippet: ViewColumn,
    score: Float64Builder,
}

impl ResultColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            id: ViewColumn::with_capacity(n),
            step: UInt32Builder::with_capacity(n),
            rank: UInt32Builder::with_capacity(n),
            key: ViewColumn::with_capacity(n),
            title: ViewColumn::with_capacity(n),
            snippet: ViewColumn::with_capacity(n),
            score: Float64Builder::with_capacity(n),
        }
    }

    fn push(&mut self, id: &SharedText, i: u32, step: &Step) {
        for (rank, hit) in step.hits.iter().enumerate() {
            self.id.append_shared(Some(id));
            self.step.append_value(i);
            self.rank.append_value(rank as u32 + 1);
            self.key.append_shared(Some(&hit.doc_key));
            self.title.append_shared(hit.title.as_ref());
            self.snippet.append_shared(hit.snippet.as_ref());
            self.score.append_option(hit.score);
        }
    }

    fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            search_results_schema(),
            vec![
                Arc::new(self.id.finish()),
                Arc::new(self.step.finish()),
                Arc::new(self.rank.finish()),
                Arc::new(self.key.finish()),
                Arc::new(self.title.finish()),
                Arc::new(self.snippet.finish()),
                Arc::new(self.score.finish()),
            ],
        )
    }
}

/// The browses table's columns, one row per browse.
struct BrowseColumns {
    id: ViewColumn,
    step: UInt32Builder,
    key: StringViewBuilder,
    ok: BooleanBuilder,
    content_chars: UInt64Builder,
    content: ViewColumn,
    include_content: bool,
}

impl BrowseColumns {
    fn with_capacity(n: usize, include_content: bool) -> Self {
        Self {
            id: ViewColumn::with_capacity(n),
            step: UInt32Builder::with_capacity(n),
            key: StringViewBuilder::with_capacity(n),
            ok: BooleanBuilder::with_capacity(n),
            content_chars: UInt64Builder::with_capacity(n),
            content: ViewColumn::with_capacity(n),
            include_content,
        }
    }

    fn push(&mut self, id: &SharedText, i: u32, b: &BrowseRecord) {
        self.id.append_shared(Some(id));
        self.step.append_value(i);
        self.key.append_option(b.doc_key.as_deref());
        self.ok.append_value(b.ok);
        self.content_chars.append_value(b.content_chars);
        self.content.append_shared(if self.include_content { b.content.as_ref() } else { None });
    }

    fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            browses_schema(),
            vec![
                Arc::new(self.id.finish()),
                Arc::new(self.step.finish()),
                Arc::new(self.key.finish()),
                Arc::new(self.ok.finish()),
                Arc::new(self.content_chars.finish()),
                Arc::new(self.content.finish()),
            ],
        )
    }
}

/// Each trajectory's id as a view into one buffer of all of them, so that every row of a trajectory
/// in the steps, search_results and browses tables points at one copy of its id.
fn shared_ids(trajectories: &[Trajectory]) -> Vec<SharedText> {
    let all_ids = SharedText::from(trajectories.iter().map(|t| t.id.as_str()).collect::<String>());
    let mut at = 0;
    trajectories
        .iter()
        .map(|t| {
            at += t.id.len();
            SharedText::within(Some(&all_ids), &all_ids[at - t.id.len()..at])
        })
        .collect()
}

pub fn build(trajectories: &[Trajectory], issues: &[Issue], include_content: bool) -> Result<Tables, ArrowError> {
    let (mut n_steps, mut n_hits, mut n_browses) = (0, 0, 0);
    for step in trajectories.iter().flat_map(|t| &t.steps) {
        n_steps += 1;
        n_hits += step.hits.len();
        n_browses += step.browse.is_some() as usize;
    }
    let mut trajectory_rows = TrajectoryColumns::with_capacity(trajectories.len());
    let mut step_rows = StepColumns::with_capacity(n_steps);
    let mut result_rows = ResultColumns::with_capacity(n_hits);
    let mut browse_rows = BrowseColumns::with_capacity(n_browses, include_content);

    for (t, id) in trajectories.iter().zip(&shared_ids(trajectories)) {
        trajectory_rows.push(t);
        for (i, step) in t.steps.iter().enumerate() {
            let i = i as u32;
            step_rows.push(id, i, step);
            result_rows.push(id, i, step);
            if let Some(b) = &step.browse {
                browse_rows.push(id, i, b);
            }
        }
    }
    Ok(Tables {
        trajectories: trajectory_rows.finish()?,
        steps: step_rows.finish()?,
        search_results: result_rows.finish()?,
        browses: browse_rows.finish()?,
        errors: errors_batch(issues)?,
    })
}

pub fn errors_batch(issues: &[Issue]) -> Result<RecordBatch, ArrowError> {
    let mut source = StringViewBuilder::with_capacity(issues.len());
    let mut line = UInt64Builder::with_capacity(issues.len());
    let mut offset = UInt64Builder::with_capacity(issues.len());
    let mut severity = StringViewBuilder::with_capacity(issues.len());
    let mut reason = StringViewBuilder::with_capacity(issues.len());
    for issue in issues {
        source.append_value(&issue.error.location.source);
        line.append_value(issue.error.location.line);
        offset.append_value(issue.error.location.byte_offset);
        severity.append_value(issue.severity.name());
        reason.append_value(&issue.error.reason);
    }
    RecordBatch::try_new(
        errors_schema(),
        vec![
            Arc::new(source.finish()),
            Arc::new(line.finish()),
            Arc::new(offset.finish()),
            Arc::new(severity.finish()),
            Arc::new(reason.finish()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use arrow_array::{Array, StringViewArray};

    use super::build;
    use crate::formats::{parse_record, FormatOptions};
    use crate::Location;

    #[test]
    fn texts_are_views_of_the_records_unescaped_strings() {
        let output = "A search for 'q' found 2 results:\n\n## Web Results\nDocID:1\n[One]\nthe first snippet, long enough\n\nDocID:2\n[Two]\nsecond\n\nDocID:3\n[Three]\nthe third snippet\twith an escape\n";
        let record = serde_json::json!({
            "query_id": "q1", "status": "completed",
            "result": [
                {"type": "reasoning", "output": ["a thought in parts", "joined, so copied"]},
                {"type": "reasoning", "output": "a thought\nwith an escape"},
                {"type": "tool_call", "tool_name": "search", "arguments": "{\"query\": \"q\"}", "output": output},
                {"type": "tool_call", "tool_name": "get_document", "arguments": "{\"docid\": \"1\"}", "output": "Document 1:\nthe whole first document\n"},
                {"type": "reasoning", "output": "a thought without escapes"},
            ],
        })
        .to_string();
        let location = Location { source: "test.jsonl".into(), line: 1, byte_offset: 0 };
        let t = parse_record(&record, &location, &FormatOptions::default()).unwrap().trajectories;
        let tables = build(&t, &[], true).unwrap();
        let column = |batch: &arrow_array::RecordBatch, name: &str| {
            batch.column_by_name(name).unwrap().as_any().downcast_ref::<StringViewArray>().unwrap().clone()
        };
        let snippets = column(&tables.search_results, "snippet");
        let values: Vec<&str> = (0..snippets.len()).map(|i| snippets.value(i)).collect();
        assert_eq!(values, ["the first snippet, long enough", "second", "the third snippet\twith an escape"]);
        let content = column(&tables.browses, "content");
        assert_eq!(content.value(0), "Document 1:\nthe whole first document\n");
        let texts = column(&tables.steps, "text");
        let values: Vec<&str> = (0..texts.len()).map(|i| texts.value(i)).collect();
        assert_eq!(values[..2], ["a thought in parts\njoined, so copied", "a thought\nwith an escape"]);
        assert_eq!(values[4], "a thought without escapes");

        // The long snippets, the page and the escaped thought point into one buffer: the record's
        // unescaped strings ("second" is inline in its view). Texts without escapes are copies.
        let record_texts = snippets.data_buffers()[0].as_ptr();
        assert_eq!(snippets.data_buffers().len(), 1);
        assert_eq!(content.data_buffers().len(), 1);
        assert_eq!(content.data_buffers()[0].as_ptr(), record_texts);
        assert!(texts.data_buffers().iter().any(|b| b.as_ptr() == record_texts));
        assert!(
            texts.data_buffers().iter().any(|b| b.as_ptr() != record_texts),
            "the joined thought and the one without escapes are copies"
        );
    }
}
