//! Mined examples and document texts as Arrow record batches.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, ListBuilder, StringViewBuilder, UInt32Builder, UInt8Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

use super::documents::StoredDocument;
use super::Example;
use crate::model::Trajectory;

pub fn examples_schema() -> SchemaRef {
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8View, true)));
    Arc::new(Schema::new(vec![
        Field::new("trajectory_id", DataType::Utf8View, false),
        Field::new("query_id", DataType::Utf8View, true),
        Field::new("outcome", DataType::Utf8View, false),
        Field::new("step", DataType::UInt32, false),
        Field::new("search_step", DataType::UInt32, false),
        Field::new("rank", DataType::UInt32, false),
        Field::new("query", DataType::Utf8View, false),
        Field::new("pos_id", DataType::Utf8View, false),
        Field::new("neg_id", list, false),
        Field::new("neg_tier", DataType::List(Arc::new(Field::new("item", DataType::UInt8, true))), false),
        Field::new("context", DataType::Utf8View, false),
        Field::new("reasoning", DataType::Utf8View, false),
        Field::new("reasoning_tokens", DataType::UInt32, false),
        Field::new("accepted", DataType::Boolean, false),
        Field::new("chained", DataType::Boolean, false),
        Field::new("credited", DataType::Boolean, false),
    ]))
}

pub fn documents_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("doc_id", DataType::Utf8View, false),
        Field::new("title", DataType::Utf8View, true),
        Field::new("text", DataType::Utf8View, false),
        Field::new("text_source", DataType::Utf8View, false),
    ]))
}

pub fn examples_batch(trajectories: &[Trajectory], examples: &[Example]) -> Result<RecordBatch, ArrowError> {
    let n = examples.len();
    let mut tid = StringViewBuilder::with_capacity(n);
    let mut qid = StringViewBuilder::with_capacity(n);
    let mut outcome = StringViewBuilder::with_capacity(n);
    let mut step = UInt32Builder::with_capacity(n);
    let mut search_step = UInt32Builder::with_capacity(n);
    let mut rank = UInt32Builder::with_capacity(n);
    let mut query = StringViewBuilder::with_capacity(n);
    let mut pos = StringViewBuilder::with_capacity(n);
    let mut neg = ListBuilder::new(StringViewBuilder::new());
    let mut tier = ListBuilder::new(UInt8Builder::new());
    let mut context = StringViewBuilder::with_capacity(n);
    let mut reasoning = StringViewBuilder::with_capacity(n);
    let mut tokens = UInt32Builder::with_capacity(n);
    let mut accepted = BooleanBuilder::with_capacity(n);
    let mut chained = BooleanBuilder::with_capacity(n);
    let mut credited = BooleanBuilder::with_capacity(n);
    for e in examples {
        let t = &trajectories[e.trajectory];
        tid.append_value(&t.id);
        qid.append_option(t.query_id.as_deref());
        outcome.append_value(t.outcome.name());
        step.append_value(e.step);
        search_step.append_value(e.search_step);
        rank.append_value(e.rank);
        query.append_value(e.query);
        pos.append_value(e.positive);
        for k in &e.negatives {
            neg.values().append_value(k);
        }
        neg.append(true);
        for t in &e.negative_tiers {
            tier.values().append_value(*t as u8);
        }
        tier.append(true);
        context.append_value(e.context);
        reasoning.append_value(e.reasoning);
        tokens.append_value(e.reasoning_tokens);
        accepted.append_value(e.accepted);
        chained.append_value(e.chained);
        credited.append_value(e.credited);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(tid.finish()),
        Arc::new(qid.finish()),
        Arc::new(outcome.finish()),
        Arc::new(step.finish()),
        Arc::new(search_step.finish()),
        Arc::new(rank.finish()),
        Arc::new(query.finish()),
        Arc::new(pos.finish()),
        Arc::new(neg.finish()),
        Arc::new(tier.finish()),
        Arc::new(context.finish()),
        Arc::new(reasoning.finish()),
        Arc::new(tokens.finish()),
        Arc::new(accepted.finish()),
        Arc::new(chained.finish()),
        Arc::new(credited.finish()),
    ];
    RecordBatch::try_new(examples_schema(), columns)
}

pub fn documents_batch(documents: &[StoredDocument]) -> Result<RecordBatch, ArrowError> {
    let mut id = StringViewBuilder::with_capacity(documents.len());
    let mut title = StringViewBuilder::with_capacity(documents.len());
    let mut text = StringViewBuilder::with_capacity(documents.len());
    let mut source = StringViewBuilder::with_capacity(documents.len());
    for d in documents {
        id.append_value(&d.key);
        title.append_option(d.title.as_deref());
        text.append_value(&d.text);
        source.append_value(d.source.name());
    }
    RecordBatch::try_new(
        documents_schema(),
        vec![Arc::new(id.finish()), Arc::new(title.finish()), Arc::new(text.finish()), Arc::new(source.finish())],
    )
}
