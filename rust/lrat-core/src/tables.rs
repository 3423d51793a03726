//! The canonical model as Arrow record batches: the tables `trajectories`, `steps`,
//! `search_results`, `browses` and `errors` (their columns are documented in the README).

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, StringViewBuilder, UInt32Builder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch, StringViewArray};
use arrow_buffer::{Buffer, NullBufferBuilder, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use rustc_hash::FxHashMap;

use crate::model::{SharedText, StepKind, Trajectory};
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

pub fn build(trajectories: &[Trajectory], issues: &[Issue], include_content: bool) -> Result<Tables, ArrowError> {
    let n = trajectories.len();
    let (mut n_steps, mut n_hits, mut n_browses) = (0, 0, 0);
    for step in trajectories.iter().flat_map(|t| &t.steps) {
        n_steps += 1;
        n_hits += step.hits.len();
        n_browses += step.browse.is_some() as usize;
    }

    let mut t_id = StringViewBuilder::with_capacity(n);
    let mut t_qid = StringViewBuilder::with_capacity(n);
    let mut t_source = StringViewBuilder::with_capacity(n);
    let mut t_line = UInt64Builder::with_capacity(n);
    let mut t_format = StringViewBuilder::with_capacity(n);
    let mut t_question = StringViewBuilder::with_capacity(n);
    let mut t_final = ViewColumn::with_capacity(n);
    let mut t_gold = StringViewBuilder::with_capacity(n);
    let mut t_outcome = StringViewBuilder::with_capacity(n);
    let mut t_steps = UInt32Builder::with_capacity(n);
    let mut t_searches = UInt32Builder::with_capacity(n);
    let mut t_browses = UInt32Builder::with_capacity(n);
    let mut t_meta = StringViewBuilder::with_capacity(n);

    let mut s_id = ViewColumn::with_capacity(n_steps);
    let mut s_step = UInt32Builder::with_capacity(n_steps);
    let mut s_kind = StringViewBuilder::with_capacity(n_steps);
    let mut s_tool = StringViewBuilder::with_capacity(n_steps);
    let mut s_text = ViewColumn::with_capacity(n_steps);

    let mut r_id = ViewColumn::with_capacity(n_hits);
    let mut r_step = UInt32Builder::with_capacity(n_hits);
    let mut r_rank = UInt32Builder::with_capacity(n_hits);
    let mut r_key = ViewColumn::with_capacity(n_hits);
    let mut r_title = ViewColumn::with_capacity(n_hits);
    let mut r_snippet = ViewColumn::with_capacity(n_hits);
    let mut r_score = Float64Builder::with_capacity(n_hits);

    let mut b_id = ViewColumn::with_capacity(n_browses);
    let mut b_step = UInt32Builder::with_capacity(n_browses);
    let mut b_key = StringViewBuilder::with_capacity(n_browses);
    let mut b_ok = BooleanBuilder::with_capacity(n_browses);
    let mut b_len = UInt64Builder::with_capacity(n_browses);
    let mut b_content = ViewColumn::with_capacity(n_browses);

    // Every row of a trajectory in the steps, search_results and browses tables points at one copy
    // of its id instead of copying it again.
    let all_ids = SharedText::from(trajectories.iter().map(|t| t.id.as_str()).collect::<String>());
    let mut at = 0;
    let ids: Vec<SharedText> = trajectories
        .iter()
        .map(|t| {
            at += t.id.len();
            SharedText::within(Some(&all_ids), &all_ids[at - t.id.len()..at])
        })
        .collect();

    for (t, id) in trajectories.iter().zip(&ids) {
        t_id.append_value(&t.id);
        t_qid.append_option(t.query_id.as_deref());
        t_source.append_value(&t.source);
        t_line.append_value(t.line);
        t_format.append_value(t.format.name());
        t_question.append_option(t.question.as_deref());
        t_final.append_shared(t.final_answer.as_ref());
        t_gold.append_option(t.gold_answer.as_deref());
        t_outcome.append_value(t.outcome.name());
        t_steps.append_value(t.steps.len() as u32);
        t_searches.append_value(t.count(StepKind::Search) as u32);
        t_browses.append_value(t.count(StepKind::Browse) as u32);
        t_meta.append_option(t.metadata.as_deref());

        for (i, step) in t.steps.iter().enumerate() {
            let i = i as u32;
            s_id.append_shared(Some(id));
            s_step.append_value(i);
            s_kind.append_value(step.kind.name());
            s_tool.append_option(step.tool_name.as_deref());
            s_text.append_shared(Some(&step.text));
            for (rank, hit) in step.hits.iter().enumerate() {
                r_id.append_shared(Some(id));
                r_step.append_value(i);
                r_rank.append_value(rank as u32 + 1);
                r_key.append_shared(Some(&hit.doc_key));
                r_title.append_shared(hit.title.as_ref());
                r_snippet.append_shared(hit.snippet.as_ref());
                r_score.append_option(hit.score);
            }
            if let Some(b) = &step.browse {
                b_id.append_shared(Some(id));
                b_step.append_value(i);
                b_key.append_option(b.doc_key.as_deref());
                b_ok.append_value(b.ok);
                b_len.append_value(b.content_chars);
                b_content.append_shared(if include_content { b.content.as_ref() } else { None });
            }
        }
    }

    let finish = |schema: SchemaRef, columns: Vec<ArrayRef>| RecordBatch::try_new(schema, columns);
    Ok(Tables {
        trajectories: finish(
            trajectories_schema(),
            vec![
                Arc::new(t_id.finish()),
                Arc::new(t_qid.finish()),
                Arc::new(t_source.finish()),
                Arc::new(t_line.finish()),
                Arc::new(t_format.finish()),
                Arc::new(t_question.finish()),
                Arc::new(t_final.finish()),
                Arc::new(t_gold.finish()),
                Arc::new(t_outcome.finish()),
                Arc::new(t_steps.finish()),
                Arc::new(t_searches.finish()),
                Arc::new(t_browses.finish()),
                Arc::new(t_meta.finish()),
            ],
        )?,
        steps: finish(
            steps_schema(),
            vec![
                Arc::new(s_id.finish()),
                Arc::new(s_step.finish()),
                Arc::new(s_kind.finish()),
                Arc::new(s_tool.finish()),
                Arc::new(s_text.finish()),
            ],
        )?,
        search_results: finish(
            search_results_schema(),
            vec![
                Arc::new(r_id.finish()),
                Arc::new(r_step.finish()),
                Arc::new(r_rank.finish()),
                Arc::new(r_key.finish()),
                Arc::new(r_title.finish()),
                Arc::new(r_snippet.finish()),
                Arc::new(r_score.finish()),
            ],
        )?,
        browses: finish(
            browses_schema(),
            vec![
                Arc::new(b_id.finish()),
                Arc::new(b_step.finish()),
                Arc::new(b_key.finish()),
                Arc::new(b_ok.finish()),
                Arc::new(b_len.finish()),
                Arc::new(b_content.finish()),
            ],
        )?,
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
