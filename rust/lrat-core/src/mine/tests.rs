use super::*;
use crate::model::{BrowseRecord, SearchHit, Step};

enum S<'a> {
    Search(&'a str, &'a [&'a str]),
    Browse(&'a str),
    Reason(&'a str),
    Answer,
}

fn traj(steps: &[S]) -> Trajectory {
    let steps = steps
        .iter()
        .map(|s| match s {
            S::Search(q, keys) => Step::search(
                Some("search".into()),
                *q,
                keys.iter().map(|k| SearchHit { doc_key: (*k).into(), ..Default::default() }).collect(),
            ),
            S::Browse(k) => Step::browse(
                Some("get_document".into()),
                *k,
                BrowseRecord::new(Some(k.to_string()), true, Some(format!("Document {k}: text").into())),
            ),
            S::Reason(r) => Step::reason(*r),
            S::Answer => Step::answer("done"),
        })
        .collect();
    Trajectory::of_steps(steps)
}

const GOOD: &str = "This confirms the birth year.";
const BAD: &str = "This page is not relevant to the question.";

fn mine<'t>(t: &'t Trajectory, cut: impl Into<Cut>, verdicts: Verdicts) -> (Vec<Example<'t>>, MineStats) {
    let mut stats = MineStats::default();
    let e = mine_trajectory(t, 0, cut, &verdicts, &TokenCounter::Whitespace, &mut stats);
    (e, stats)
}

fn negs<'t>(e: &Example<'t>) -> Vec<&'t str> {
    e.negatives.clone()
}

#[test]
fn browse_after_search_is_a_positive_and_the_rest_are_negatives() {
    let t = traj(&[S::Search("q1", &["a", "b", "c"]), S::Browse("b"), S::Reason(GOOD), S::Answer]);
    let (e, stats) = mine(&t, Rule::Segment, Verdicts::Rules);
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].query, e[0].positive, e[0].rank), ("q1", "b", 2));
    assert_eq!(negs(&e[0]), ["a", "c"]);
    assert_eq!(e[0].reasoning, GOOD);
    assert_eq!(e[0].reasoning_tokens, 5);
    assert!(e[0].accepted);
    assert_eq!(stats.accepted, 1);
}

#[test]
fn negatives_order_rejected_run_then_segment_then_unbrowsed_recent_list_first() {
    let t = traj(&[
        S::Search("q1", &["a", "b", "c"]),
        S::Browse("a"),
        S::Reason(BAD), // rejected: joins the segment's rejected browses
        S::Search("q2", &["d", "e", "b"]),
        S::Browse("d"),
        S::Reason(BAD), // run: d rejected, e accepted
        S::Browse("e"),
        S::Reason(GOOD),
    ]);
    let (e, stats) = mine(&t, Rule::Segment, Verdicts::Rules);
    assert_eq!(stats.rejected, 2);
    assert_eq!(stats.accepted, 1);
    let first = &e[0];
    assert_eq!((first.positive, first.query, first.accepted), ("a", "q1", false));
    assert_eq!(negs(first), ["b", "c"]);
    let accepted = e.iter().find(|x| x.positive == "e").unwrap();
    assert_eq!(accepted.query, "q2");
    // run's rejected (d), segment's rejected (a), then unbrowsed: q2's list (b), then q1's list (c).
    assert_eq!(negs(accepted), ["d", "a", "b", "c"]);
    let rejected_d = e.iter().find(|x| x.positive == "d").unwrap();
    assert!(!rejected_d.accepted);
    assert_eq!(negs(rejected_d), ["a", "b", "c"], "the run's accepted document is never a negative");
}

#[test]
fn an_accepted_browse_resets_the_segment() {
    let t = traj(&[
        S::Search("q1", &["a", "b"]),
        S::Browse("a"),
        S::Reason(GOOD),
        S::Browse("b"), // same run (one reasoning step between)
        S::Reason(GOOD),
        S::Reason("thinking more"),
        S::Browse("b"), // new run after two reasoning steps; history was reset
        S::Search("q2", &["c", "a"]),
        S::Browse("a"),
    ]);
    let (e, stats) = mine(&t, Rule::Segment, Verdicts::Rules);
    assert_eq!(stats.not_in_results, 1);
    assert_eq!(e.len(), 3);
    assert_eq!(negs(&e[0]), Vec::<&str>::new(), "a and b are both accepted in the run");
    assert_eq!((e[2].positive, e[2].query), ("a", "q2"));
    assert_eq!(negs(&e[2]), ["c"]);
}

#[test]
fn naive_variant_accepts_every_browse() {
    let t = traj(&[S::Search("q1", &["a", "b"]), S::Browse("a"), S::Reason(BAD)]);
    let (e, _) = mine(&t, Rule::Segment, Verdicts::AcceptAll);
    assert!(e[0].accepted);
}

#[test]
fn given_verdicts_follow_browse_order() {
    let t = traj(&[S::Search("q1", &["a", "b"]), S::Browse("a"), S::Browse("b")]);
    let given = vec![vec![false, true]];
    let (e, _) = mine(&t, Rule::Segment, Verdicts::Given(&given));
    assert_eq!(e.iter().map(|x| x.accepted).collect::<Vec<_>>(), [false, true]);
    assert_eq!(negs(&e[1]), ["a"]);
}

#[test]
fn per_search_rule_uses_only_that_searchs_list() {
    let t = traj(&[
        S::Search("q1", &["a", "b", "c"]),
        S::Browse("b"),
        S::Reason(GOOD),
        S::Search("q2", &["d", "e"]),
        S::Browse("a"), // not in q2's list
        S::Browse("e"),
    ]);
    let (e, stats) = mine(&t, Rule::PerSearch, Verdicts::Rules);
    assert_eq!(stats.not_in_results, 1);
    assert_eq!(e.len(), 2);
    assert_eq!((e[0].query, negs(&e[0])), ("q1", vec!["a", "c"]));
    assert_eq!((e[1].query, e[1].rank, negs(&e[1])), ("q2", 2, vec!["d"]));
}

#[test]
fn unreadable_and_failed_browses_are_passed_over() {
    let mut t = traj(&[S::Search("q1", &["a", "b"]), S::Browse("a"), S::Browse("b")]);
    t.steps[1].browse.as_mut().unwrap().doc_key = None;
    t.steps[2].browse.as_mut().unwrap().ok = false;
    let (e, stats) = mine(&t, Rule::Segment, Verdicts::Rules);
    assert!(e.is_empty());
    assert_eq!((stats.unreadable, stats.failed, stats.browses), (1, 1, 2));
}

#[test]
fn negatives_carry_tiers_rejected_then_skipped_above_then_seen_below() {
    let t = traj(&[
        S::Search("q1", &["a", "b", "c"]),
        S::Browse("b"),
        S::Reason(BAD), // rejected: a was skipped above it, c seen below
        S::Reason("Let me look for the birth year instead."),
        S::Search("q2", &["d", "e", "f", "g"]),
        S::Browse("f"),
        S::Reason(GOOD),
    ]);
    let (e, _) = mine(&t, Rule::Segment, Verdicts::Rules);
    let accepted = e.iter().find(|x| x.positive == "f").unwrap();
    assert_eq!(negs(accepted), ["b", "d", "e", "g", "a", "c"]);
    use Tier::*;
    assert_eq!(accepted.negative_tiers, [Rejected, SkippedAbove, SkippedAbove, SeenBelow, SkippedAbove, SeenBelow]);
    assert_eq!(accepted.context, "Let me look for the birth year instead.");
    let rejected = e.iter().find(|x| x.positive == "b").unwrap();
    assert_eq!(rejected.context, "", "the search is the first step: nothing was reasoned before it");
    assert_eq!(rejected.negative_tiers.len(), rejected.negatives.len());
}

#[test]
fn per_search_tiers_follow_the_searchs_list() {
    let t = traj(&[
        S::Reason("First the director."),
        S::Search("q1", &["a", "b", "c", "d"]),
        S::Browse("a"),
        S::Reason(BAD),
        S::Browse("c"),
        S::Reason(GOOD),
    ]);
    let (e, _) = mine(&t, Rule::PerSearch, Verdicts::Rules);
    let accepted = e.iter().find(|x| x.positive == "c").unwrap();
    assert_eq!(negs(accepted), ["a", "b", "d"]);
    assert_eq!(accepted.negative_tiers, [Tier::Rejected, Tier::SkippedAbove, Tier::SeenBelow]);
    assert_eq!(accepted.context, "First the director.");
}

fn chained<'t>(t: &'t Trajectory, rule: Rule, verdicts: Verdicts) -> (Vec<Example<'t>>, MineStats) {
    mine(t, Cut { rule, chain_queries: true, credit_earlier: false }, verdicts)
}

#[test]
fn query_chains_give_the_reformulated_searches_the_page_found_later() {
    let t = traj(&[
        S::Search("q1", &["a", "b"]),
        S::Browse("a"),
        S::Reason(GOOD),
        S::Search("q2", &["c", "d"]),
        S::Search("q3", &["d", "e", "x"]),
        S::Browse("e"),
        S::Reason(BAD),
        S::Search("q4", &["f", "x", "g"]),
        S::Browse("x"),
        S::Reason(GOOD),
        S::Answer,
    ]);
    let (plain, plain_stats) = mine(&t, Rule::Segment, Verdicts::Rules);
    let (e, stats) = chained(&t, Rule::Segment, Verdicts::Rules);
    assert_eq!(e[..plain.len()], plain[..], "chaining only adds examples");
    let extra: Vec<&Example> = e.iter().filter(|e| e.chained).collect();
    assert_eq!(stats.chained, 2);
    assert_eq!(stats.examples, plain.len() as u64 + 2);
    assert_eq!((stats.accepted, stats.rejected), (plain_stats.accepted, plain_stats.rejected));
    // q1's accepted browse closes the chain before it: q2 and q3 (not q1, nor q4 itself) get x.
    assert_eq!(extra.iter().map(|e| (e.query, e.positive)).collect::<Vec<_>>(), [("q2", "x"), ("q3", "x")]);
    assert_eq!((extra[0].rank, extra[1].rank), (0, 3), "rank in the chained search's own list, 0 when absent");
    assert_eq!(negs(extra[0]), ["c", "d"]);
    assert_eq!(negs(extra[1]), ["e", "d"], "the browse rejected after q3 first, then q3's unbrowsed results");
    assert_eq!(extra[1].negative_tiers, [Tier::Rejected, Tier::SkippedAbove]);
    assert!(extra.iter().all(|x| x.accepted && x.reasoning == GOOD && x.step == 8));
    assert_eq!(extra.iter().map(|x| x.search_step).collect::<Vec<_>>(), [3, 4]);
}

#[test]
fn query_chains_follow_only_accepted_pages_and_never_repeat_a_pair() {
    let t = traj(&[
        S::Search("q1", &["a"]),
        S::Search("q1", &["a", "b"]),
        S::Search("q2", &["b", "c"]),
        S::Browse("c"),
        S::Reason(BAD),
        S::Answer,
    ]);
    let (e, stats) = chained(&t, Rule::Segment, Verdicts::Rules);
    assert_eq!(stats.chained, 0, "a rejected browse starts no chain");
    assert!(e.iter().all(|e| !e.chained));

    let (e, stats) = chained(&t, Rule::PerSearch, Verdicts::AcceptAll);
    assert_eq!(stats.chained, 1, "the repeated query q1 is paired with c once");
    let x = e.iter().find(|e| e.chained).unwrap();
    assert_eq!((x.query, x.positive, x.search_step, x.rank), ("q1", "c", 0, 0));
    assert_eq!(negs(x), ["a"]);
}

fn credited<'t>(t: &'t Trajectory, rule: Rule, verdicts: Verdicts) -> (Vec<Example<'t>>, MineStats) {
    mine(t, Cut { rule, chain_queries: false, credit_earlier: true }, verdicts)
}

#[test]
fn crediting_pairs_an_accepted_page_with_each_earlier_search_that_listed_it() {
    let t = traj(&[
        S::Search("q1", &["a", "x", "b"]),
        S::Browse("a"),
        S::Reason(BAD),
        S::Search("q2", &["c", "d"]),
        S::Search("q3", &["d", "x", "e"]),
        S::Browse("e"),
        S::Reason(GOOD),
        S::Browse("x"),
        S::Reason(GOOD),
        S::Search("q4", &["x", "f"]),
        S::Answer,
    ]);
    let (plain, plain_stats) = mine(&t, Rule::PerSearch, Verdicts::Rules);
    let (e, stats) = credited(&t, Rule::PerSearch, Verdicts::Rules);
    assert_eq!(e[..plain.len()], plain[..], "crediting only adds examples");
    let extra: Vec<&Example> = e.iter().filter(|e| e.credited).collect();
    assert_eq!(stats.credited, 1);
    assert_eq!(stats.examples, plain.len() as u64 + 1);
    assert_eq!(
        (stats.accepted, stats.rejected),
        (plain_stats.accepted, plain_stats.rejected),
        "the judge's verdicts are counted once per browse, not again for the credited example"
    );
    assert_eq!(stats.examples, stats.accepted + stats.rejected + stats.credited);
    // Only q1 listed x before q3's browse of it: not q2 (x absent), not q3 (its own), not q4 (later).
    let x = extra[0];
    assert_eq!((x.query, x.positive, x.rank, x.search_step, x.step), ("q1", "x", 2, 0, 7));
    assert!(x.accepted && !x.chained && x.reasoning == GOOD);
    assert_eq!(negs(x), ["a", "b"], "the browse rejected after q1 first, then q1's unbrowsed results");
    assert_eq!(x.negative_tiers, [Tier::Rejected, Tier::SeenBelow]);
}

#[test]
fn crediting_skips_rejected_pages_and_pairs_already_mined() {
    let t = traj(&[
        S::Search("q1", &["x", "y"]),
        S::Search("q2", &["x", "y"]),
        S::Browse("y"),
        S::Reason(BAD),
        S::Search("q1", &["y", "x"]),
        S::Browse("x"),
        S::Reason(GOOD),
        S::Answer,
    ]);
    let (e, stats) = credited(&t, Rule::PerSearch, Verdicts::Rules);
    // x, accepted after the second q1, credits q2 only: q1 is already paired with x.
    assert_eq!(stats.credited, 1);
    let x = e.iter().find(|e| e.credited).unwrap();
    assert_eq!((x.query, x.positive, x.rank), ("q2", "x", 1));
    assert_eq!(negs(x), ["y"]);
    assert_eq!(x.negative_tiers, [Tier::Rejected]);
    assert!(e.iter().filter(|e| e.positive == "y").all(|e| !e.credited), "a rejected page is credited nowhere");
}
