//! Mining retrieval supervision from trajectories (docs/method.md §2): a browsed document is a positive for
//! the current query, the unbrowsed results the agent saw and the browses it rejected are negatives,
//! and the reasoning written after the browse filters and weights the positive.

pub mod attach;
pub mod documents;
pub mod judge;
pub mod table;
pub mod tokens;
pub mod wordpiece;

use rustc_hash::FxHashSet as HashSet;

use crate::model::{StepKind, Trajectory};
pub use judge::judge_reasoning;
pub use tokens::TokenCounter;

/// How examples are cut from a trajectory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The official implementation's segments: browse runs against the history of result lists
    /// since the last accepted browse.
    Segment,
    /// The paper's rule: a document browsed after a search is a positive for that search's query;
    /// the rest of that search's list are its negatives.
    PerSearch,
}

impl std::str::FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "segment" => Ok(Rule::Segment),
            "per_search" | "search" => Ok(Rule::PerSearch),
            _ => Err(format!("rule must be 'segment' or 'per_search', not {s:?}")),
        }
    }
}

/// Where the accept / reject decision of each browse comes from.
pub enum Verdicts<'a> {
    /// Every browse is accepted (the naive variant, no filter).
    AcceptAll,
    /// The built-in rule-based judge.
    Rules,
    /// Decisions made elsewhere (a Python callable, an LLM endpoint), one per browse in the order of
    /// [`browse_reasonings`], for the trajectories of the batch in order.
    Given(&'a [Vec<bool>]),
}

/// Why a document is a negative, strongest rejection first (the tiers of ITER's negative weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Tier {
    /// The agent opened it and its reasoning rejected it.
    Rejected = 0,
    /// Unopened, ranked above a result the agent opened in the same list: skipped on the way down.
    SkippedAbove = 1,
    /// Unopened, ranked below every result the agent opened in its list (or in a list where it
    /// opened none).
    SeenBelow = 2,
}

/// A mined example; its texts borrow from the trajectories it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Example<'t> {
    /// Index of the trajectory in the batch.
    pub trajectory: usize,
    /// The browse step.
    pub step: u32,
    /// The search step that set the query.
    pub search_step: u32,
    /// 1-based rank of the positive in the most recent result list that holds it.
    pub rank: u32,
    pub query: &'t str,
    pub positive: &'t str,
    pub negatives: Vec<&'t str>,
    /// How strongly the agent passed over each negative, aligned with `negatives`.
    pub negative_tiers: Vec<Tier>,
    /// The reasoning step right before the search that set the query ("" when that step is not
    /// reasoning): what the agent was after when it searched.
    pub context: &'t str,
    pub reasoning: &'t str,
    pub reasoning_tokens: u32,
    pub accepted: bool,
    /// A query chain's example: the query is an earlier search the agent left without accepting
    /// anything, the positive what a later search of the same chain found (see [`chain_examples`]).
    pub chained: bool,
    /// A credited example: the query is an earlier search whose list showed the page the agent
    /// accepted later (see [`credit_examples`]).
    pub credited: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MineStats {
    pub browses: u64,
    /// Every example: `accepted + rejected + chained + credited`.
    pub examples: u64,
    /// The judge's verdicts on the examples mined from browses (chained and credited ones, all of
    /// accepted pages, are counted apart).
    pub accepted: u64,
    pub rejected: u64,
    /// Browses of documents in none of the result lists the rule pairs them with: the segment's
    /// history (which an accepted browse clears), or the preceding search's list (per-search rule).
    pub not_in_results: u64,
    /// Browse calls whose document id could not be read.
    pub unreadable: u64,
    /// Browse calls whose tool answered with an error.
    pub failed: u64,
    /// Query-chain examples among `examples` (only when chaining is on).
    pub chained: u64,
    /// Credited examples among `examples` (only when crediting is on).
    pub credited: u64,
}

impl MineStats {
    pub fn add(&mut self, o: &MineStats) {
        self.browses += o.browses;
        self.examples += o.examples;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.not_in_results += o.not_in_results;
        self.unreadable += o.unreadable;
        self.failed += o.failed;
        self.chained += o.chained;
        self.credited += o.credited;
    }
}

/// A browse the miner can use: its step, document, and the reasoning written right after it.
struct Browse<'t> {
    step: usize,
    key: &'t str,
    reasoning: &'t str,
    accepted: bool,
}

/// The reasoning step right after step `i`, when that step is reasoning.
fn post_browse_reasoning(t: &Trajectory, i: usize) -> &str {
    match t.steps.get(i + 1) {
        Some(s) if s.kind == StepKind::Reason => &s.text,
        _ => "",
    }
}

/// The post-browse reasoning of every browse, in step order: what a judge reads.
pub fn browse_reasonings(t: &Trajectory) -> Vec<(u32, &str)> {
    t.steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == StepKind::Browse)
        .map(|(i, _)| (i as u32, post_browse_reasoning(t, i)))
        .collect()
}

/// Runs of browses: browse calls separated by at most one reasoning step each.
fn browse_runs(t: &Trajectory) -> Vec<Vec<usize>> {
    let steps = &t.steps;
    let mut runs = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        if steps[i].kind != StepKind::Browse {
            i += 1;
            continue;
        }
        let mut run = vec![i];
        let mut j = i;
        loop {
            let mut k = j + 1;
            if k < steps.len() && steps[k].kind == StepKind::Reason {
                k += 1;
            }
            if k < steps.len() && steps[k].kind == StepKind::Browse {
                run.push(k);
                j = k;
            } else {
                break;
            }
        }
        i = j + 1;
        runs.push(run);
    }
    runs
}

/// Decides each browse of the trajectory; returns per browse step the decision.
fn decide<'t>(
    t: &'t Trajectory,
    verdicts: &Verdicts,
    given: Option<&[bool]>,
    stats: &mut MineStats,
) -> Vec<Option<Browse<'t>>> {
    let mut out: Vec<Option<Browse>> = (0..t.steps.len()).map(|_| None).collect();
    let mut n = 0;
    for (i, step) in t.steps.iter().enumerate() {
        if step.kind != StepKind::Browse {
            continue;
        }
        let index = n;
        n += 1;
        stats.browses += 1;
        let Some(record) = step.browse.as_ref() else { continue };
        let Some(key) = record.doc_key.as_deref() else {
            stats.unreadable += 1;
            continue;
        };
        if !record.ok {
            stats.failed += 1;
            continue;
        }
        let reasoning = post_browse_reasoning(t, i);
        let accepted = match verdicts {
            Verdicts::AcceptAll => true,
            Verdicts::Rules => judge_reasoning(reasoning),
            Verdicts::Given(_) => given.and_then(|g| g.get(index).copied()).unwrap_or(true),
        };
        out[i] = Some(Browse { step: i, key, reasoning, accepted });
    }
    out
}

/// How a trajectory is cut into examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub rule: Rule,
    /// Add query chains' examples ([`chain_examples`]).
    pub chain_queries: bool,
    /// Credit accepted pages to the earlier searches that listed them ([`credit_examples`]).
    pub credit_earlier: bool,
}

impl From<Rule> for Cut {
    fn from(rule: Rule) -> Self {
        Cut { rule, chain_queries: false, credit_earlier: false }
    }
}

/// Mines one trajectory.
pub fn mine_trajectory<'t>(
    t: &'t Trajectory,
    trajectory: usize,
    cut: impl Into<Cut>,
    verdicts: &Verdicts,
    counter: &TokenCounter,
    stats: &mut MineStats,
) -> Vec<Example<'t>> {
    let cut = cut.into();
    let given = match verdicts {
        Verdicts::Given(all) => all.get(trajectory).map(|v| v.as_slice()),
        _ => None,
    };
    let decisions = decide(t, verdicts, given, stats);
    let mut examples = match cut.rule {
        Rule::Segment => mine_segments(t, trajectory, &decisions, stats),
        Rule::PerSearch => mine_per_search(t, trajectory, &decisions, stats),
    };
    for e in &mut examples {
        e.reasoning_tokens = counter.count(e.reasoning);
    }
    if cut.chain_queries {
        let chained = chain_examples(t, &decisions, &examples);
        stats.chained += chained.len() as u64;
        examples.extend(chained);
    }
    if cut.credit_earlier {
        let credited = credit_examples(t, &decisions, &examples);
        stats.credited += credited.len() as u64;
        examples.extend(credited);
    }
    stats.examples += examples.len() as u64;
    for e in examples.iter().filter(|e| !e.chained && !e.credited) {
        if e.accepted {
            stats.accepted += 1;
        } else {
            stats.rejected += 1;
        }
    }
    examples
}

struct Search<'t> {
    step: usize,
    query: &'t str,
    keys: Vec<&'t str>,
}

/// The reasoning step right before step `i`, when that step is reasoning.
fn pre_search_reasoning(t: &Trajectory, i: usize) -> &str {
    match i.checked_sub(1).and_then(|j| t.steps.get(j)) {
        Some(s) if s.kind == StepKind::Reason => &s.text,
        _ => "",
    }
}

/// Negatives in the order they were collected, with their tiers.
#[derive(Default)]
struct Negatives<'t> {
    keys: Vec<&'t str>,
    tiers: Vec<Tier>,
    seen: HashSet<&'t str>,
}

impl<'t> Negatives<'t> {
    fn excluding(keys: impl IntoIterator<Item = &'t str>) -> Self {
        Negatives { seen: keys.into_iter().collect(), ..Default::default() }
    }

    /// Pushes `key` unless it is already there or excluded.
    fn push(&mut self, key: &'t str, tier: Tier) {
        if self.seen.insert(key) {
            self.keys.push(key);
            self.tiers.push(tier);
        }
    }

    /// The unbrowsed results of one list, in rank order: those above the lowest browsed result are
    /// skipped on the way down, the rest seen below.
    fn push_unbrowsed(&mut self, list: &[&'t str], browsed: &HashSet<&'t str>) {
        let lowest_browsed = list.iter().rposition(|k| browsed.contains(k));
        for (position, k) in list.iter().enumerate() {
            if !browsed.contains(k) {
                let above = lowest_browsed.is_some_and(|low| position < low);
                self.push(k, if above { Tier::SkippedAbove } else { Tier::SeenBelow });
            }
        }
    }
}

fn make_example<'t>(
    t: &'t Trajectory,
    trajectory: usize,
    b: &Browse<'t>,
    search: &Search<'t>,
    rank: u32,
    negatives: Negatives<'t>,
) -> Example<'t> {
    Example {
        trajectory,
        step: b.step as u32,
        search_step: search.step as u32,
        rank,
        query: search.query,
        positive: b.key,
        negatives: negatives.keys,
        negative_tiers: negatives.tiers,
        context: pre_search_reasoning(t, search.step),
        reasoning: b.reasoning,
        reasoning_tokens: 0,
        accepted: b.accepted,
        chained: false,
        credited: false,
    }
}

/// Query chains (after Radlinski and Joachims, KDD 2005): the searches an agent issued since its
/// last accepted browse, and left without accepting anything, are the reformulations that led to
/// the next page it accepts. Each accepted example gives every such earlier search of its chain an
/// example of its own ([`earlier_search_example`]). `rank` is the positive's rank in that search's
/// list, 0 when the list did not hold it: then the chain teaches what the search missed. A query
/// already paired with the positive in `examples` is not paired again.
fn chain_examples<'t>(
    t: &'t Trajectory,
    decisions: &[Option<Browse<'t>>],
    examples: &[Example<'t>],
) -> Vec<Example<'t>> {
    let accepted_steps: Vec<usize> = decisions.iter().flatten().filter(|b| b.accepted).map(|b| b.step).collect();
    let searches = search_steps(t);
    let mut paired: HashSet<(&str, &str)> = examples.iter().map(|e| (e.query, e.positive)).collect();
    let mut out = Vec::new();
    for e in examples.iter().filter(|e| e.accepted) {
        let search = e.search_step as usize;
        let chain_start = accepted_steps.iter().rev().find(|&&a| a < search).map_or(0, |a| a + 1);
        for n in (0..searches.len()).filter(|&n| searches[n] >= chain_start && searches[n] < search) {
            if paired.insert((t.steps[searches[n]].text.as_str(), e.positive)) {
                let mut x = earlier_search_example(t, decisions, examples, e, &searches, n);
                x.chained = true;
                out.push(x);
            }
        }
    }
    out
}

/// Credit for pages seen before they were read: an accepted page was also what every earlier
/// search of the trajectory that listed it was after, whether the agent passed it over there or
/// had no budget left to open it. Each accepted example (not itself a chain's) gives every earlier
/// search whose list holds its positive an example of its own ([`earlier_search_example`]), with
/// the positive's rank in that list. A query already paired with the positive is not paired again.
fn credit_examples<'t>(
    t: &'t Trajectory,
    decisions: &[Option<Browse<'t>>],
    examples: &[Example<'t>],
) -> Vec<Example<'t>> {
    let searches = search_steps(t);
    let mut paired: HashSet<(&str, &str)> = examples.iter().map(|e| (e.query, e.positive)).collect();
    let mut out = Vec::new();
    for e in examples.iter().filter(|e| e.accepted && !e.chained) {
        let search = e.search_step as usize;
        for n in (0..searches.len()).filter(|&n| searches[n] < search) {
            let step = &t.steps[searches[n]];
            if step.hits.iter().any(|h| h.doc_key == e.positive) && paired.insert((step.text.as_str(), e.positive)) {
                let mut x = earlier_search_example(t, decisions, examples, e, &searches, n);
                x.credited = true;
                out.push(x);
            }
        }
    }
    out
}

fn search_steps(t: &Trajectory) -> Vec<usize> {
    t.steps.iter().enumerate().filter(|(_, s)| s.kind == StepKind::Search).map(|(i, _)| i).collect()
}

/// Example `e`'s positive (with its browse, reasoning and verdict) paired with the query of the
/// earlier search `searches[n]`; as negatives the browses rejected after that search, then its
/// list's unbrowsed results, leaving out the other documents accepted in `e`'s run.
fn earlier_search_example<'t>(
    t: &'t Trajectory,
    decisions: &[Option<Browse<'t>>],
    examples: &[Example<'t>],
    e: &Example<'t>,
    searches: &[usize],
    n: usize,
) -> Example<'t> {
    let c = searches[n];
    let step = &t.steps[c];
    let run_accepted = examples.iter().filter(|o| o.accepted && o.search_step == e.search_step).map(|o| o.positive);
    let keys: Vec<&str> = step.hits.iter().map(|h| h.doc_key.as_str()).collect();
    let window_end = searches.get(n + 1).copied().unwrap_or(t.steps.len());
    let window: Vec<&Browse> = decisions[c + 1..window_end].iter().flatten().collect();
    let browsed: HashSet<&str> = window.iter().map(|b| b.key).collect();
    let mut negatives = Negatives::excluding(run_accepted.chain([e.positive]));
    for b in window.iter().rev().filter(|b| !b.accepted) {
        negatives.push(b.key, Tier::Rejected);
    }
    negatives.push_unbrowsed(&keys, &browsed);
    Example {
        trajectory: e.trajectory,
        step: e.step,
        search_step: c as u32,
        rank: keys.iter().position(|k| *k == e.positive).map_or(0, |p| p as u32 + 1),
        query: &step.text,
        positive: e.positive,
        negatives: negatives.keys,
        negative_tiers: negatives.tiers,
        context: pre_search_reasoning(t, c),
        reasoning: e.reasoning,
        reasoning_tokens: e.reasoning_tokens,
        accepted: true,
        chained: false,
        credited: false,
    }
}

fn mine_segments<'t>(
    t: &'t Trajectory,
    trajectory: usize,
    decisions: &[Option<Browse<'t>>],
    stats: &mut MineStats,
) -> Vec<Example<'t>> {
    let mut examples = Vec::new();
    let mut history: Vec<Search> = Vec::new();
    let mut rejected: Vec<&str> = Vec::new();
    let runs = browse_runs(t);
    let mut run_at = runs.iter().map(|r| (r[0], r)).peekable();

    let mut i = 0;
    while i < t.steps.len() {
        let step = &t.steps[i];
        if step.kind == StepKind::Search {
            history.push(Search {
                step: i,
                query: &step.text,
                keys: step.hits.iter().map(|h| h.doc_key.as_str()).collect(),
            });
            i += 1;
            continue;
        }
        let Some((_, run)) = run_at.next_if(|(start, _)| *start == i) else {
            i += 1;
            continue;
        };
        i = run[run.len() - 1] + 1;
        let browses: Vec<&Browse> = run.iter().filter_map(|&s| decisions[s].as_ref()).collect();
        let run_rejected: Vec<&str> = browses.iter().filter(|b| !b.accepted).map(|b| b.key).collect();
        let run_accepted: HashSet<&str> = browses.iter().filter(|b| b.accepted).map(|b| b.key).collect();
        let browsed: HashSet<&str> = browses.iter().map(|b| b.key).chain(rejected.iter().copied()).collect();

        for b in &browses {
            let Some((rank, _)) =
                history.iter().rev().find_map(|s| s.keys.iter().position(|k| *k == b.key).map(|p| (p as u32 + 1, s)))
            else {
                stats.not_in_results += 1;
                continue;
            };
            let current = history.last().expect("a list holds the positive, so history is not empty");
            let mut negatives = Negatives::excluding(run_accepted.iter().copied().chain([b.key]));
            for k in run_rejected.iter().rev().chain(rejected.iter().rev()) {
                negatives.push(k, Tier::Rejected);
            }
            for s in history.iter().rev() {
                negatives.push_unbrowsed(&s.keys, &browsed);
            }
            examples.push(make_example(t, trajectory, b, current, rank, negatives));
        }

        rejected.extend(run_rejected);
        if !run_accepted.is_empty() {
            history.clear();
            rejected.clear();
        }
    }
    examples
}

fn mine_per_search<'t>(
    t: &'t Trajectory,
    trajectory: usize,
    decisions: &[Option<Browse<'t>>],
    stats: &mut MineStats,
) -> Vec<Example<'t>> {
    let mut examples = Vec::new();
    let search_steps = search_steps(t);
    let first_search = search_steps.first().copied().unwrap_or(t.steps.len());
    stats.not_in_results += decisions[..first_search].iter().flatten().count() as u64;
    for (n, &start) in search_steps.iter().enumerate() {
        let end = search_steps.get(n + 1).copied().unwrap_or(t.steps.len());
        let step = &t.steps[start];
        let search =
            Search { step: start, query: &step.text, keys: step.hits.iter().map(|h| h.doc_key.as_str()).collect() };
        let browses: Vec<&Browse> = decisions[start + 1..end].iter().flatten().collect();
        let window_rejected: Vec<&str> = browses.iter().filter(|b| !b.accepted).map(|b| b.key).collect();
        let window_accepted: HashSet<&str> = browses.iter().filter(|b| b.accepted).map(|b| b.key).collect();
        let browsed: HashSet<&str> = browses.iter().map(|b| b.key).collect();
        for b in &browses {
            let Some(pos) = search.keys.iter().position(|k| *k == b.key) else {
                stats.not_in_results += 1;
                continue;
            };
            let mut negatives = Negatives::excluding(window_accepted.iter().copied().chain([b.key]));
            for k in window_rejected.iter().rev() {
                negatives.push(k, Tier::Rejected);
            }
            negatives.push_unbrowsed(&search.keys, &browsed);
            examples.push(make_example(t, trajectory, b, &search, pos as u32 + 1, negatives));
        }
    }
    examples
}

#[cfg(test)]
mod tests;

/// Mines a batch of trajectories on the pool. Examples come out in trajectory order.
pub fn mine_batch<'t>(
    trajectories: &'t [Trajectory],
    cut: Cut,
    verdicts: &Verdicts,
    counter: &TokenCounter,
) -> (Vec<Example<'t>>, MineStats) {
    use rayon::prelude::*;
    let parts: Vec<(Vec<Example<'t>>, MineStats)> = crate::pool::pool().install(|| {
        trajectories
            .par_iter()
            .enumerate()
            .map(|(i, t)| {
                let mut stats = MineStats::default();
                let examples = mine_trajectory(t, i, cut, verdicts, counter, &mut stats);
                (examples, stats)
            })
            .collect()
    });
    let mut stats = MineStats::default();
    let mut examples = Vec::new();
    for (e, s) in parts {
        examples.extend(e);
        stats.add(&s);
    }
    (examples, stats)
}
