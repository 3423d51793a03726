//! HNSW search that runs in place on usearch's serialized graph (a mapped file, or the bytes an
//! in-memory index is frozen into before a run of searches), for f32 vectors.
//!
//! usearch's own search pays, per neighbour, an indirect lookup of the vector's address, a read of
//! the node's key and a call of lrat's distance through a function pointer set across the FFI. In
//! the serialized form the vectors are one contiguous table, so a neighbour's vector is one
//! multiplication away; level 0's neighbour lists are copied into one dense table (4 bytes per
//! place: 132 bytes a node at connectivity 16) for the same reason; removed entries are one bit
//! each; the distance is called directly; and the next vector, and the list of each new candidate,
//! are prefetched, as hnswlib and faiss do. The graph and the search rule (greedy descent on the
//! upper levels, then a best-first search on level 0 with `max(ef, k)` candidates) are usearch's,
//! so the recall is the same.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::distance::Kernel;
use super::graph::Layout;

/// usearch's key for removed entries: such nodes still route searches but are never results.
const REMOVED: u64 = u64::MAX;
/// Bytes before a node's level-0 neighbour count: its key (u64) and level (i16).
const NODE_HEAD: usize = 10;

pub struct FrozenGraph {
    vectors_at: usize,
    row_bytes: usize,
    dim: usize,
    nodes_at: Vec<usize>,
    /// Level 0, where nearly all of a search's reads are, as one dense table: node `i`'s neighbour
    /// count, then its `connectivity_base` places, at `i * (1 + connectivity_base)`. Its address is
    /// then one multiplication away, with no offset to look up first (a cache miss of its own).
    level0: Vec<u32>,
    /// One bit per node, set for removed entries; empty when none is removed.
    removed: Vec<u64>,
    connectivity: usize,
    connectivity_base: usize,
    max_level: usize,
    entry: u32,
}

#[derive(Clone, Copy)]
struct Scored {
    distance: f32,
    node: u32,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance.total_cmp(&other.distance).then(self.node.cmp(&other.node))
    }
}

/// Per-thread search state, kept between searches so that a query allocates nothing.
#[derive(Default)]
struct Scratch {
    /// `visited[node] == epoch` marks the nodes seen by the current search.
    visited: Vec<u16>,
    epoch: u16,
    candidates: BinaryHeap<Reverse<Scored>>,
    best: BinaryHeap<Scored>,
    fresh: Vec<u32>,
    sorted: Vec<Scored>,
}

impl Scratch {
    fn start(&mut self, nodes: usize) {
        if self.visited.len() < nodes {
            self.visited.resize(nodes, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.visited.fill(0);
            self.epoch = 1;
        }
        self.candidates.clear();
        self.best.clear();
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

#[inline(always)]
fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(byte) = bytes.get(at) {
        // SAFETY: a prefetch is a hint; the address lies inside `bytes`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(byte as *const u8 as *const i8)
        };
    }
}

impl FrozenGraph {
    /// `None` when the vector table is not aligned for f32 reads in `bytes` (the graph section of a
    /// file written by lrat always is: it starts 128 bytes into the file).
    pub fn new(layout: Layout, dim: usize, bytes: &[u8]) -> Option<Self> {
        let aligned = (bytes.as_ptr() as usize + layout.vectors_at).is_multiple_of(std::mem::align_of::<f32>());
        if !aligned || layout.row_bytes != dim * 4 || layout.nodes_at.len() > u32::MAX as usize {
            return None;
        }
        let mut removed = Vec::new();
        if layout.keys.contains(&REMOVED) {
            removed = vec![0u64; layout.keys.len().div_ceil(64)];
            for (node, _) in layout.keys.iter().enumerate().filter(|(_, &key)| key == REMOVED) {
                removed[node / 64] |= 1 << (node % 64);
            }
        }
        let stride = 1 + layout.connectivity_base;
        let mut level0 = vec![0u32; layout.nodes_at.len() * stride];
        for (&at, row) in layout.nodes_at.iter().zip(level0.chunks_exact_mut(stride)) {
            let list = &bytes[at + NODE_HEAD..at + NODE_HEAD + 4 * stride];
            for (slot, value) in row.iter_mut().zip(list.chunks_exact(4)) {
                *slot = u32::from_le_bytes(value.try_into().expect("4 bytes"));
            }
        }
        Some(FrozenGraph {
            level0,
            vectors_at: layout.vectors_at,
            row_bytes: layout.row_bytes,
            dim,
            nodes_at: layout.nodes_at,
            removed,
            connectivity: layout.connectivity,
            connectivity_base: layout.connectivity_base,
            max_level: layout.max_level,
            entry: layout.entry as u32,
        })
    }

    /// Bytes of the side tables (node offsets, removed marks); the vectors and lists stay in the section.
    pub fn memory_usage(&self) -> usize {
        self.nodes_at.capacity() * std::mem::size_of::<usize>()
            + self.level0.capacity() * 4
            + self.removed.capacity() * 8
    }

    #[inline(always)]
    fn is_removed(&self, node: u32) -> bool {
        !self.removed.is_empty() && self.removed[node as usize / 64] & (1 << (node % 64)) != 0
    }

    /// A node's key, the first field of its record.
    fn key(&self, bytes: &[u8], node: u32) -> u64 {
        let at = self.nodes_at[node as usize];
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    }

    #[inline(always)]
    fn vector<'a>(&self, bytes: &'a [u8], node: u32) -> &'a [f32] {
        let at = self.vectors_at + node as usize * self.row_bytes;
        let row = &bytes[at..at + self.row_bytes];
        // SAFETY: `new` checked that rows are f32-aligned and `dim` f32 long.
        unsafe { std::slice::from_raw_parts(row.as_ptr() as *const f32, self.dim) }
    }

    #[inline(always)]
    fn prefetch_level0(&self, node: u32) {
        let at = node as usize * (1 + self.connectivity_base);
        let row = &self.level0[at..at + 1 + self.connectivity_base];
        // SAFETY: `row` is a slice of whole u32s; viewing it as bytes reads nothing.
        let row = unsafe { std::slice::from_raw_parts(row.as_ptr() as *const u8, row.len() * 4) };
        (0..row.len()).step_by(64).for_each(|line| prefetch(row, line));
    }

    #[inline(always)]
    fn prefetch_vector(&self, bytes: &[u8], node: u32) {
        let at = self.vectors_at + node as usize * self.row_bytes;
        (0..self.row_bytes).step_by(64).for_each(|line| prefetch(bytes, at + line));
    }

    #[inline(always)]
    fn level0_neighbours(&self, node: u32) -> &[u32] {
        let at = node as usize * (1 + self.connectivity_base);
        let count = self.level0[at] as usize;
        &self.level0[at + 1..at + 1 + count]
    }

    /// The neighbour list of `node` on `level` ≥ 1 (the graph check bounded every count and id).
    #[inline(always)]
    fn upper_neighbours<'a>(&self, bytes: &'a [u8], node: u32, level: usize) -> impl Iterator<Item = u32> + 'a {
        let l = self;
        let at = l.nodes_at[node as usize]
            + NODE_HEAD
            + 4
            + 4 * l.connectivity_base
            + (level - 1) * (4 + 4 * l.connectivity);
        let count = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        bytes[at + 4..at + 4 + 4 * count].chunks_exact(4).map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
    }

    /// The `k` nearest live nodes to `query` as (usearch key, distance), nearest first, written to
    /// the front of the outputs; `ef` candidates are kept on level 0 (at least `k`).
    #[allow(clippy::too_many_arguments)]
    pub fn search(
        &self,
        bytes: &[u8],
        query: &[f32],
        k: usize,
        ef: usize,
        distance: Kernel,
        keys_out: &mut [u64],
        dist_out: &mut [f32],
    ) {
        let l = self;
        let nodes = l.nodes_at.len();
        if nodes == 0 {
            return;
        }
        let mut entry = Scored { distance: distance(query, self.vector(bytes, l.entry)), node: l.entry };
        for level in (1..=l.max_level).rev() {
            loop {
                let mut moved = false;
                for n in self.upper_neighbours(bytes, entry.node, level) {
                    let d = distance(query, self.vector(bytes, n));
                    if d < entry.distance {
                        entry = Scored { distance: d, node: n };
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }

        let ef = ef.max(k);
        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            scratch.start(nodes);
            let Scratch { visited, epoch, candidates, best, fresh, sorted } = scratch;
            let epoch = *epoch;
            visited[entry.node as usize] = epoch;
            candidates.push(Reverse(entry));
            if !self.is_removed(entry.node) {
                best.push(entry);
            }
            while let Some(Reverse(current)) = candidates.pop() {
                if best.len() >= ef && best.peek().is_some_and(|worst| current.distance > worst.distance) {
                    break;
                }
                fresh.clear();
                for &n in self.level0_neighbours(current.node) {
                    let seen = &mut visited[n as usize];
                    if *seen != epoch {
                        *seen = epoch;
                        fresh.push(n);
                        prefetch(bytes, l.vectors_at + n as usize * l.row_bytes);
                    }
                }
                for (i, &n) in fresh.iter().enumerate() {
                    if let Some(&next) = fresh.get(i + 1) {
                        self.prefetch_vector(bytes, next);
                    }
                    let d = distance(query, self.vector(bytes, n));
                    let full = best.len() >= ef;
                    if full && best.peek().is_some_and(|worst| d >= worst.distance) {
                        continue;
                    }
                    let scored = Scored { distance: d, node: n };
                    // Its neighbour list is read when it is expanded, likely soon.
                    self.prefetch_level0(n);
                    candidates.push(Reverse(scored));
                    if !self.is_removed(n) {
                        best.push(scored);
                        if best.len() > ef {
                            best.pop();
                        }
                    }
                }
            }
            sorted.clear();
            sorted.extend(best.drain());
            sorted.sort_unstable();
            for ((hit, key), dist) in sorted.iter().take(k).zip(keys_out.iter_mut()).zip(dist_out.iter_mut()) {
                *key = self.key(bytes, hit.node);
                *dist = hit.distance;
            }
        });
    }
}

/// Bytes in 8-byte-aligned storage, so that the f32 vector table of a graph section read or
/// serialized into it can be read in place.
pub struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    pub fn zeroed(len: usize) -> Self {
        AlignedBytes { words: vec![0; len.div_ceil(8)], len }
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `words` holds at least `len` initialised bytes, and u8 has no alignment.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, borrowed mutably once.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.len) }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::{Dtype, Index, IndexOptions, Keys, Metric, ResultKeys, Section};

    fn vectors(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..rows * dim)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn ints(r: &ResultKeys) -> Vec<i64> {
        match r {
            ResultKeys::Int(v) => v.clone(),
            ResultKeys::Str(_) => panic!("expected integer keys"),
        }
    }

    fn frozen(index: &Index) -> bool {
        let state = index.read();
        state.frozen.is_some() && state.section().is_some()
    }

    fn built(n: usize, dim: usize, metric: Metric) -> (Index, Vec<f32>) {
        let index = Index::new(IndexOptions::new(dim, metric, Dtype::F32)).unwrap();
        let data = vectors(n, dim, 3);
        index.add(&Keys::Int((0..n as i64).collect()), &data, dim).unwrap();
        (index, data)
    }

    fn overlap(a: &[i64], b: &[i64], k: usize) -> f64 {
        let hits: usize = a
            .chunks(k)
            .zip(b.chunks(k))
            .map(|(a, b)| {
                let b: HashSet<_> = b.iter().collect();
                a.iter().filter(|x| b.contains(x)).count()
            })
            .sum();
        hits as f64 / a.len() as f64
    }

    #[test]
    fn searching_in_place_finds_what_usearch_finds_with_the_same_distances() {
        let (dim, n, k) = (24, 4000, 10);
        for metric in [Metric::Cos, Metric::Ip, Metric::L2] {
            let (index, _) = built(n, dim, metric);
            let queries = vectors(200, dim, 11);
            // A few rows at a time stay under the freezing threshold: usearch answers them.
            let mut by_usearch = Vec::new();
            for query in queries.chunks(dim).take(40) {
                by_usearch.extend(ints(&index.search(query, dim, k, false, None, Some(1)).unwrap().keys));
                assert!(!frozen(&index));
            }
            let batch = index.search(&queries, dim, k, false, None, None).unwrap();
            assert!(frozen(&index), "{metric:?}: a batch of {} rows freezes {n} vectors", queries.len() / dim);
            let in_place = ints(&batch.keys);
            let same = overlap(&in_place[..by_usearch.len()], &by_usearch, k);
            assert!(same >= 0.97, "{metric:?}: in-place search shares {same} of usearch's results");

            let exact = index.search(&queries, dim, k, true, None, None).unwrap();
            let recall = overlap(&in_place, &ints(&exact.keys), k);
            assert!(recall >= 0.9, "{metric:?}: recall {recall}");
            for (row, (keys, distances)) in in_place.chunks(k).zip(batch.distances.chunks(k)).enumerate() {
                assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{metric:?}: row {row} unsorted");
                let query = &queries[row * dim..(row + 1) * dim];
                let probe = index.search(query, dim, k, false, Some(&Keys::Int(keys.to_vec())), None).unwrap();
                for (key, distance) in keys.iter().zip(distances) {
                    let at = ints(&probe.keys).iter().position(|x| x == key).unwrap();
                    assert!((probe.distances[at] - distance).abs() < 1e-5, "{metric:?}: key {key}");
                }
            }
        }
    }

    #[test]
    fn changes_thaw_the_index_and_searches_see_them_at_once() {
        let (dim, n) = (16, 2000);
        let (index, data) = built(n, dim, Metric::L2);
        index.search(&data, dim, 5, false, None, None).unwrap();
        assert!(frozen(&index));
        let memory_frozen = index.memory_usage();

        let fresh = vectors(1, dim, 99);
        index.add(&Keys::Int(vec![n as i64]), &fresh, dim).unwrap();
        assert!(!frozen(&index));
        assert!(matches!(index.read().section, Section::None));
        let found = index.search(&fresh, dim, 1, false, None, None).unwrap();
        assert_eq!(ints(&found.keys), vec![n as i64]);

        let removed: Vec<i64> = (0..n as i64).step_by(3).collect();
        index.remove(&Keys::Int(removed.clone())).unwrap();
        let after = index.search(&data, dim, 5, false, None, None).unwrap();
        assert!(frozen(&index), "the batch after the removal freezes again");
        let removed: HashSet<i64> = removed.into_iter().collect();
        let keys = ints(&after.keys);
        assert!(keys.iter().all(|key| *key >= 0 && !removed.contains(key)), "a removed key came back");
        let kept: Vec<usize> = (0..n).filter(|row| !removed.contains(&(*row as i64))).collect();
        let found_itself = kept.iter().filter(|&&row| keys[row * 5] == row as i64).count();
        assert!(found_itself as f64 >= 0.98 * kept.len() as f64, "{found_itself} of {} found themselves", kept.len());
        // usearch, on the same graph, finds the same.
        let state = index.read();
        let same = kept
            .iter()
            .filter(|&&row| {
                let by_usearch = state.engine.search(&data[row * dim..(row + 1) * dim], 5).unwrap().keys;
                by_usearch.iter().map(|&id| id as i64).eq(keys[row * 5..row * 5 + 5].iter().copied())
            })
            .count();
        assert!(same as f64 >= 0.97 * kept.len() as f64, "{same} of {} rows as usearch's", kept.len());
        drop(state);
        // Frozen, the vectors live once, in the serialized section.
        let thawed = Index::new(IndexOptions::new(dim, Metric::L2, Dtype::F32)).unwrap();
        thawed.add(&Keys::Int((0..n as i64).collect()), &data, dim).unwrap();
        assert!((memory_frozen as f64) < 1.3 * thawed.memory_usage() as f64);
    }

    #[test]
    fn loaded_and_viewed_files_search_in_place_with_the_same_results() {
        let (dim, n) = (16, 1500);
        let (index, data) = built(n, dim, Metric::Cos);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frozen.lrat");
        let path = path.to_str().unwrap();
        let before = index.search(&data, dim, 4, false, None, None).unwrap();
        assert!(frozen(&index));
        index.save(path).unwrap();
        for reopened in [Index::load(path).unwrap(), Index::view(path).unwrap()] {
            assert!(frozen(&reopened));
            let again = reopened.search(&data, dim, 4, false, None, None).unwrap();
            assert_eq!((ints(&again.keys), again.distances), (ints(&before.keys), before.distances.clone()));
        }
        let loaded = Index::load(path).unwrap();
        loaded.add(&Keys::Int(vec![n as i64]), &data[..dim], dim).unwrap();
        assert_eq!(loaded.len(), n + 1);
        let found = loaded.search(&data[..dim], dim, 2, false, None, None).unwrap();
        let mut first_two = ints(&found.keys);
        first_two.sort_unstable();
        assert_eq!(first_two, vec![0, n as i64]);
    }
}
