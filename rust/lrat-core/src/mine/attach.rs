//! Document texts attached to mined examples: the positive's text, and the texts of the negatives
//! that have one, by document id.
//!
//! Texts are gathered as string views, so the result shares the documents' text buffers instead of
//! copying every text once per example that cites it.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{
    Array, ArrayRef, GenericListArray, LargeListArray, OffsetSizeTrait, RecordBatch, StringViewArray, UInt32Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use rustc_hash::FxHashMap;

/// Documents by id: their texts and where each text came from. The first row of an id that has a
/// text wins; a row without one counts as no document.
pub struct DocumentTexts {
    ids: StringViewArray,
    texts: StringViewArray,
    sources: StringViewArray,
}

/// How often each document serves as a positive and as a negative, and what was missing.
struct Uses {
    positive: Vec<u64>,
    negative: Vec<u64>,
    counts: AttachCounts,
}

/// Counts over the examples whose positive has a text (the others are dropped, negatives unseen).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AttachCounts {
    pub missing_positives: u64,
    pub missing_negatives: u64,
    /// (source, count) pairs.
    pub positive_sources: Vec<(String, u64)>,
    pub negative_sources: Vec<(String, u64)>,
}

/// The columns of [`DocumentTexts::attach`]'s result.
pub fn texts_schema() -> SchemaRef {
    let list = || DataType::LargeList(Arc::new(Field::new("item", DataType::Utf8View, true)));
    Arc::new(Schema::new(vec![
        Field::new("pos", DataType::Utf8View, true),
        Field::new("pos_source", DataType::Utf8View, true),
        Field::new("neg_id", list(), false),
        Field::new("neg", list(), false),
        Field::new("neg_source", list(), false),
    ]))
}

impl DocumentTexts {
    /// Reads the `doc_id`, `text` and `text_source` columns (string, large string or string view).
    pub fn from_batches(batches: &[RecordBatch]) -> Result<Self, ArrowError> {
        let column = |name: &str| -> Result<StringViewArray, ArrowError> {
            let parts = batches.iter().map(|b| column(b, "documents", name)).collect::<Result<Vec<_>, _>>()?;
            let parts = parts.iter().map(|a| string_view(a.as_ref(), name)).collect::<Result<Vec<_>, _>>()?;
            match parts.len() {
                0 => Ok(StringViewArray::from(Vec::<&str>::new())),
                1 => Ok(parts.into_iter().next().expect("one part")),
                _ => {
                    let parts: Vec<&dyn Array> = parts.iter().map(|a| a as &dyn Array).collect();
                    Ok(arrow_select::concat::concat(&parts)?.as_string_view().clone())
                }
            }
        };
        Ok(DocumentTexts { ids: column("doc_id")?, texts: column("text")?, sources: column("text_source")? })
    }

    /// Attaches texts to each batch of examples (by their `pos_id` strings and `neg_id` lists of
    /// strings); the result has [`texts_schema`] and the examples' rows.
    pub fn attach(&self, examples: &[RecordBatch]) -> Result<(Vec<RecordBatch>, AttachCounts), ArrowError> {
        let mut row_of: FxHashMap<&str, u32> = FxHashMap::default();
        row_of.reserve(self.ids.len());
        for (row, id) in self.ids.iter().enumerate() {
            if let (Some(id), true) = (id, self.texts.is_valid(row)) {
                row_of.entry(id).or_insert(row as u32);
            }
        }
        let mut uses = Uses {
            positive: vec![0; self.ids.len()],
            negative: vec![0; self.ids.len()],
            counts: AttachCounts::default(),
        };
        let mut out = Vec::with_capacity(examples.len());
        for batch in examples {
            let pos_id = string_view(column(batch, "examples", "pos_id")?.as_ref(), "pos_id")?;
            let neg_id = column(batch, "examples", "neg_id")?;
            let texts = match neg_id.data_type() {
                DataType::List(_) => self.attach_batch(&row_of, &pos_id, neg_id.as_list::<i32>(), &mut uses),
                DataType::LargeList(_) => self.attach_batch(&row_of, &pos_id, neg_id.as_list::<i64>(), &mut uses),
                other => {
                    Err(ArrowError::InvalidArgumentError(format!("neg_id must be a list of strings, not {other}")))
                }
            }?;
            out.push(RecordBatch::try_new(texts_schema(), texts)?);
        }
        let mut counts = uses.counts;
        counts.positive_sources = self.by_source(&uses.positive);
        counts.negative_sources = self.by_source(&uses.negative);
        Ok((out, counts))
    }

    fn attach_batch<O: OffsetSizeTrait>(
        &self,
        row_of: &FxHashMap<&str, u32>,
        pos_id: &StringViewArray,
        neg_id: &GenericListArray<O>,
        uses: &mut Uses,
    ) -> Result<Vec<ArrayRef>, ArrowError> {
        if pos_id.len() != neg_id.len() {
            return Err(ArrowError::InvalidArgumentError(format!(
                "{} pos_id values but {} neg_id lists",
                pos_id.len(),
                neg_id.len()
            )));
        }
        let neg_values = string_view(neg_id.values().as_ref(), "neg_id")?;
        let offsets = neg_id.value_offsets();
        let mut pos_rows = Vec::with_capacity(pos_id.len());
        let mut neg_rows = Vec::new();
        let mut neg_positions = Vec::new();
        let mut neg_offsets = Vec::with_capacity(pos_id.len() + 1);
        neg_offsets.push(0i64);
        for example in 0..pos_id.len() {
            let pos_row = pos_id.is_valid(example).then(|| row_of.get(pos_id.value(example)).copied()).flatten();
            pos_rows.push(pos_row);
            match pos_row {
                None => uses.counts.missing_positives += 1,
                Some(row) => {
                    uses.positive[row as usize] += 1;
                    if neg_id.is_valid(example) {
                        let (start, end) = (offsets[example].as_usize(), offsets[example + 1].as_usize());
                        for position in start..end {
                            if neg_values.is_null(position) {
                                continue;
                            }
                            match row_of.get(neg_values.value(position)) {
                                Some(&row) => {
                                    uses.negative[row as usize] += 1;
                                    neg_rows.push(row);
                                    neg_positions.push(position as u32);
                                }
                                None => uses.counts.missing_negatives += 1,
                            }
                        }
                    }
                }
            }
            neg_offsets.push(neg_rows.len() as i64);
        }
        let pos_rows = UInt32Array::from(pos_rows);
        let neg_rows = UInt32Array::from(neg_rows);
        let neg_offsets = OffsetBuffer::new(neg_offsets.into());
        let list = |values: ArrayRef| -> ArrayRef {
            let field = Arc::new(Field::new("item", DataType::Utf8View, true));
            Arc::new(LargeListArray::new(field, neg_offsets.clone(), values, None))
        };
        let take = |array: &StringViewArray, rows: &UInt32Array| arrow_select::take::take(array, rows, None);
        Ok(vec![
            take(&self.texts, &pos_rows)?,
            take(&self.sources, &pos_rows)?,
            list(take(&neg_values, &UInt32Array::from(neg_positions))?),
            list(take(&self.texts, &neg_rows)?),
            list(take(&self.sources, &neg_rows)?),
        ])
    }

    fn by_source(&self, uses: &[u64]) -> Vec<(String, u64)> {
        let mut by_source: Vec<(String, u64)> = Vec::new();
        for (row, &n) in uses.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let source = if self.sources.is_null(row) { "" } else { self.sources.value(row) };
            match by_source.iter_mut().find(|(s, _)| s == source) {
                Some((_, total)) => *total += n,
                None => by_source.push((source.to_string(), n)),
            }
        }
        by_source
    }
}

fn column<'b>(batch: &'b RecordBatch, table: &str, name: &str) -> Result<&'b ArrayRef, ArrowError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::InvalidArgumentError(format!("the {table} have no {name} column")))
}

fn string_view(array: &dyn Array, name: &str) -> Result<StringViewArray, ArrowError> {
    match array.data_type() {
        DataType::Utf8View => Ok(array.as_string_view().clone()),
        DataType::Utf8 | DataType::LargeUtf8 => {
            Ok(arrow_cast::cast(array, &DataType::Utf8View)?.as_string_view().clone())
        }
        other => Err(ArrowError::InvalidArgumentError(format!("{name} must hold strings, not {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::StringArray;

    fn strings(array: &ArrayRef) -> Vec<Option<String>> {
        array.as_string_view().iter().map(|s| s.map(str::to_string)).collect()
    }

    fn lists(array: &ArrayRef) -> Vec<Vec<String>> {
        let list = array.as_list::<i64>();
        (0..list.len())
            .map(|i| list.value(i).as_string_view().iter().map(|s| s.unwrap().to_string()).collect())
            .collect()
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    fn examples(pos: Vec<Option<&str>>, negs: &[&[Option<&str>]]) -> RecordBatch {
        let mut b = ListBuilder::new(StringBuilder::new());
        for row in negs {
            for id in *row {
                b.values().append_option(*id);
            }
            b.append(true);
        }
        batch(vec![("pos_id", Arc::new(StringArray::from(pos))), ("neg_id", Arc::new(b.finish()))])
    }

    fn documents(rows: &[(&str, &str, &str)]) -> RecordBatch {
        let column = |i: usize| -> ArrayRef {
            Arc::new(StringArray::from(rows.iter().map(|r| [r.0, r.1, r.2][i]).collect::<Vec<_>>()))
        };
        batch(vec![("doc_id", column(0)), ("text", column(1)), ("text_source", column(2))])
    }

    #[test]
    fn attaches_texts_in_order_drops_negatives_without_text_and_counts() {
        // Documents in two batches; the first row of an id wins.
        let docs = DocumentTexts::from_batches(&[
            documents(&[("a", "text a", "browse"), ("b", "text b", "snippet")]),
            documents(&[("c", "text c", "snippet"), ("a", "second a", "browse")]),
        ])
        .unwrap();
        let first = examples(vec![Some("a"), Some("x")], &[&[Some("c"), Some("y"), None, Some("b")], &[Some("a")]]);
        let second = examples(vec![Some("b")], &[&[]]);
        let (out, counts) = docs.attach(&[first, second]).unwrap();
        assert_eq!(out.len(), 2);
        let column =
            |name: &str| -> Vec<ArrayRef> { out.iter().map(|b| b.column_by_name(name).unwrap().clone()).collect() };
        let all_strings = |name: &str| column(name).iter().flat_map(strings).collect::<Vec<_>>();
        let all_lists = |name: &str| column(name).iter().flat_map(lists).collect::<Vec<_>>();
        assert_eq!(all_strings("pos"), vec![Some("text a".into()), None, Some("text b".into())]);
        assert_eq!(all_strings("pos_source"), vec![Some("browse".into()), None, Some("snippet".into())]);
        assert_eq!(all_lists("neg_id"), vec![vec!["c".to_string(), "b".into()], vec![], vec![]]);
        assert_eq!(all_lists("neg"), vec![vec!["text c".to_string(), "text b".into()], vec![], vec![]]);
        assert_eq!(all_lists("neg_source"), vec![vec!["snippet".to_string(), "snippet".into()], vec![], vec![]]);
        assert_eq!(
            counts,
            AttachCounts {
                missing_positives: 1,
                missing_negatives: 1,
                positive_sources: vec![("browse".into(), 1), ("snippet".into(), 1)],
                negative_sources: vec![("snippet".into(), 2)],
            }
        );
    }

    #[test]
    fn names_a_missing_column_and_a_column_of_the_wrong_type() {
        let no_text = batch(vec![("doc_id", Arc::new(StringArray::from(vec!["a"])) as ArrayRef)]);
        let err = DocumentTexts::from_batches(&[no_text]).err().unwrap();
        assert_eq!(err.to_string(), "Invalid argument error: the documents have no text column");
        let numbers = documents(&[("a", "t", "corpus")]);
        let numbers = batch(vec![
            ("doc_id", numbers.column(0).clone()),
            ("text", Arc::new(UInt32Array::from(vec![1])) as ArrayRef),
            ("text_source", numbers.column(2).clone()),
        ]);
        let err = DocumentTexts::from_batches(&[numbers]).err().unwrap();
        assert!(err.to_string().contains("text must hold strings, not UInt32"), "{err}");
        let docs = DocumentTexts::from_batches(&[documents(&[("a", "t", "corpus")])]).unwrap();
        let flat = batch(vec![
            ("pos_id", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
            ("neg_id", Arc::new(StringArray::from(vec!["b"]))),
        ]);
        let err = docs.attach(&[flat]).err().unwrap();
        assert!(err.to_string().contains("neg_id must be a list of strings"), "{err}");
    }

    #[test]
    fn a_document_row_without_text_is_no_document() {
        let docs = batch(vec![
            ("doc_id", Arc::new(StringArray::from(vec!["a", "a", "b"])) as ArrayRef),
            ("text", Arc::new(StringArray::from(vec![None, Some("text a"), None]))),
            ("text_source", Arc::new(StringArray::from(vec!["corpus", "corpus", "corpus"]))),
        ]);
        let docs = DocumentTexts::from_batches(&[docs]).unwrap();
        let (out, counts) = docs.attach(&[examples(vec![Some("a"), Some("b")], &[&[Some("b")], &[]])]).unwrap();
        assert_eq!(strings(out[0].column(0)), vec![Some("text a".into()), None]);
        assert_eq!((counts.missing_positives, counts.missing_negatives), (1, 1));
    }

    #[test]
    fn no_documents_leave_every_positive_missing() {
        let docs = DocumentTexts::from_batches(&[]).unwrap();
        let (out, counts) = docs.attach(&[examples(vec![Some("a")], &[&[Some("b")]])]).unwrap();
        assert_eq!(out[0].column(0).null_count(), 1);
        assert_eq!((counts.missing_positives, counts.missing_negatives), (1, 0));
    }
}
