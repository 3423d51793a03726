//! The real LRAT trajectories in `../shared/data/lrat-trajectories/` (see `shared_data` for when
//! they are absent).

mod shared_data;

use std::path::PathBuf;

use lrat_core::{read_all, Format, Outcome, ReadOptions, StepKind};

fn data_dir() -> Option<PathBuf> {
    shared_data::shared_data("lrat-trajectories")
}

#[test]
fn counts_match_the_data_readme() {
    let Some(dir) = data_dir() else { return };
    let (batch, totals) = read_all(&[dir.display().to_string()], ReadOptions::default()).unwrap();
    assert_eq!(batch.trajectories.len(), 10);
    assert_eq!(totals.errors, 0, "{:?}", batch.issues);
    let count = |k| batch.trajectories.iter().map(|t| t.count(k)).sum::<usize>();
    assert_eq!(count(StepKind::Search), 102);
    assert_eq!(count(StepKind::Browse), 28);
    assert!(batch.trajectories.iter().all(|t| t.format == Format::BrowseComp && t.outcome == Outcome::Completed));
    let tools = |name: &str| {
        batch.trajectories.iter().flat_map(|t| &t.steps).filter(|s| s.tool_name.as_deref() == Some(name)).count()
    };
    assert_eq!(tools("get_document"), 18);
    assert_eq!(tools("visit"), 10);
}

#[test]
fn result_lists_and_browses_of_trajectory_1() {
    let Some(dir) = data_dir() else { return };
    let (batch, _) = read_all(&[dir.join("1.json").display().to_string()], ReadOptions::default()).unwrap();
    let t = &batch.trajectories[0];
    assert_eq!(t.query_id.as_deref(), Some("1"));
    assert_eq!(t.gold_answer.as_deref(), Some("Bedřich Havlíček"));
    let search = t.steps.iter().find(|s| s.kind == StepKind::Search).unwrap();
    assert_eq!(search.text, "Czech historian born in Valašské Klobouky Ladislav Zdeněk brother");
    assert_eq!(search.hits.len(), 10);
    assert_eq!(search.hits[0].doc_key, "9358159");
    assert_eq!(search.hits[0].title.as_deref(), Some("Bedřich Havlíček"));
    let mut keys: Vec<&str> = search.hits.iter().map(|h| h.doc_key.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["10121870", "1675639", "1888799", "2690620", "3896914", "5406386", "5601468", "5992926", "7177735", "9358159"]
    );
    let browse = t.steps.iter().find(|s| s.kind == StepKind::Browse).unwrap();
    let record = browse.browse.as_ref().unwrap();
    assert_eq!(record.doc_key.as_deref(), Some("9358159"));
    assert!(record.ok);
    assert!(record.content.as_ref().unwrap().starts_with("Document 9358159:"));
    assert_eq!(t.final_answer.as_deref().map(|a| a.contains("Bedřich Havlíček")), Some(true));
}

#[test]
fn union_of_result_docids_equals_retrieved_docids() {
    let Some(dir) = data_dir() else { return };
    let (batch, _) = read_all(&[dir.display().to_string()], ReadOptions::default()).unwrap();
    for t in &batch.trajectories {
        let meta: serde_json::Value = serde_json::from_str(t.metadata.as_deref().unwrap()).unwrap();
        let mut expected: Vec<String> =
            meta["retrieved_docids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        expected.sort();
        let mut got: Vec<String> = t.steps.iter().flat_map(|s| s.hits.iter().map(|h| h.doc_key.to_string())).collect();
        got.sort();
        got.dedup();
        assert_eq!(got, expected, "trajectory {}", t.id);
    }
}
