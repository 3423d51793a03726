//! Approximate nearest-neighbour search (HNSW, on the usearch engine) over dense vectors keyed by
//! strings or integers, with exact search, search restricted to a set of keys, parallel batch search,
//! and a checked, atomically written file format that can be loaded or memory-mapped.

mod distance;
pub mod error;
mod file;
mod frozen;
mod graph;
mod keys;
mod slots;

use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use rayon::prelude::*;

pub use error::{IndexError, IndexResult};
pub use file::{FORMAT_VERSION, HEADER_LEN, MAGIC};
pub use keys::{KeyKind, Keys, ResultKeys};

use crate::pool::pool;
use distance::Kernel;
use file::Header;
use frozen::{AlignedBytes, FrozenGraph};
use keys::{KeyMap, NO_KEY};
use slots::Slots;

/// Restricted searches over at most this many keys compare the query with each of them.
pub const EXACT_FILTER_LIMIT: usize = 8192;

/// An in-memory f32 index is frozen for search (serialized, then searched in place) once the rows
/// searched since its last change reach its size divided by this: freezing copies every vector
/// once, about the work of this many searches per vector, and a change thaws it again.
const FREEZE_AFTER_SEARCHES_PER_VECTOR: usize = 64;

/// A batch on several threads is cut into this many runs of rows per thread, handed out in turn.
const RUNS_PER_THREAD: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// 1 - cosine similarity.
    Cos,
    /// 1 - dot product.
    Ip,
    /// Squared Euclidean distance.
    L2,
}

impl Metric {
    pub fn parse(name: &str) -> IndexResult<Self> {
        match name {
            "cos" => Ok(Metric::Cos),
            "ip" => Ok(Metric::Ip),
            "l2" => Ok(Metric::L2),
            other => Err(IndexError::InvalidArgument(format!(
                "unknown metric {other:?}; expected \"cos\", \"ip\" or \"l2\""
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::Cos => "cos",
            Metric::Ip => "ip",
            Metric::L2 => "l2",
        }
    }

    fn code(self) -> u32 {
        match self {
            Metric::Cos => 1,
            Metric::Ip => 2,
            Metric::L2 => 3,
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        [Metric::Cos, Metric::Ip, Metric::L2].into_iter().find(|m| m.code() == code)
    }

    fn engine(self) -> usearch::MetricKind {
        match self {
            Metric::Cos => usearch::MetricKind::Cos,
            Metric::Ip => usearch::MetricKind::IP,
            Metric::L2 => usearch::MetricKind::L2sq,
        }
    }
}

/// How vectors are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    /// Each vector scaled to unit length, then to [-127, 127]; keeps cosine distances only.
    I8,
}

impl Dtype {
    pub fn parse(name: &str) -> IndexResult<Self> {
        match name {
            "f32" => Ok(Dtype::F32),
            "f16" => Ok(Dtype::F16),
            "i8" => Ok(Dtype::I8),
            other => Err(IndexError::InvalidArgument(format!(
                "unknown dtype {other:?}; expected \"f32\", \"f16\" or \"i8\""
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::I8 => "i8",
        }
    }

    fn code(self) -> u32 {
        match self {
            Dtype::F32 => 1,
            Dtype::F16 => 2,
            Dtype::I8 => 3,
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        [Dtype::F32, Dtype::F16, Dtype::I8].into_iter().find(|d| d.code() == code)
    }

    fn engine(self) -> usearch::ScalarKind {
        match self {
            Dtype::F32 => usearch::ScalarKind::F32,
            Dtype::F16 => usearch::ScalarKind::F16,
            Dtype::I8 => usearch::ScalarKind::I8,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexOptions {
    pub dim: usize,
    pub metric: Metric,
    pub dtype: Dtype,
    /// Edges per node in the HNSW graph (M).
    pub connectivity: usize,
    /// Candidate list size while inserting (efConstruction).
    pub expansion_add: usize,
    /// Candidate list size while searching (ef).
    pub expansion_search: usize,
}

impl IndexOptions {
    pub fn new(dim: usize, metric: Metric, dtype: Dtype) -> Self {
        IndexOptions { dim, metric, dtype, connectivity: 16, expansion_add: 128, expansion_search: 64 }
    }

    pub fn validate(&self) -> IndexResult<()> {
        let bad = |msg: String| Err(IndexError::InvalidArgument(msg));
        if self.dim == 0 || self.dim > 1 << 20 {
            return bad(format!("dimension must be between 1 and {}; got {}", 1 << 20, self.dim));
        }
        if !(2..=1024).contains(&self.connectivity) {
            return bad(format!("connectivity must be between 2 and 1024; got {}", self.connectivity));
        }
        if self.expansion_add == 0 || self.expansion_search == 0 {
            return bad("expansion_add and expansion_search must be positive".into());
        }
        if self.dtype == Dtype::I8 && self.metric != Metric::Cos {
            return bad(format!(
                "dtype \"i8\" scales every vector to unit length, which keeps only cosine distances; \
                 use metric \"cos\", or dtype \"f16\" with metric {:?}",
                self.metric.name()
            ));
        }
        Ok(())
    }
}

/// Results of a batch search: `rows` × `k`, row-major; rows with fewer than `k` matches are padded
/// (key -1 or `None`, distance +inf).
#[derive(Debug, Clone)]
pub struct SearchResults {
    pub keys: ResultKeys,
    pub distances: Vec<f32>,
    pub rows: usize,
    pub k: usize,
}

struct State {
    // Declared first: a viewed engine points into `section` or the mapping and must be dropped first.
    engine: usearch::Index,
    keys: KeyMap,
    /// Search in place over the graph section that the engine views (f32 indexes only).
    frozen: Option<FrozenGraph>,
    section: Section,
    _mapping: Option<memmap2::Mmap>,
    viewed_from: Option<String>,
    /// Rows searched approximately since the index last changed (see `FREEZE_AFTER_SEARCHES_PER_VECTOR`).
    searched_since_change: AtomicUsize,
}

/// Where the serialized graph that the engine views lies, if it views one.
enum Section {
    /// The engine owns its graph and vectors.
    None,
    /// An in-memory index frozen for search, or loaded from a file: the section is `range` of these bytes.
    Owned(AlignedBytes, Range<usize>),
    /// A view of a file: the section is this range of the mapping.
    Mapped(Range<usize>),
}

impl State {
    fn section(&self) -> Option<&[u8]> {
        match (&self.section, &self._mapping) {
            (Section::Owned(bytes, range), _) => Some(&bytes.as_slice()[range.clone()]),
            (Section::Mapped(range), Some(mapping)) => Some(&mapping[range.clone()]),
            _ => None,
        }
    }
}

pub struct Index {
    options: IndexOptions,
    /// Vectors (and queries) are scaled to unit length on the way in: cosine indexes.
    unit_vectors: bool,
    state: RwLock<State>,
    slots: Slots,
    thread_contexts: usize,
    /// The f32 distance, as installed in the engine.
    kernel: Kernel,
}

fn thread_contexts() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    crate::pool::num_threads().max(cores) + 2
}

/// One vector as i8 for a cosine index: scaled so that its largest component is ±127, then
/// rounded. Cosine distance ignores each vector's scale, so no factor needs keeping, and this keeps
/// several times the precision of usearch's own cast (unit length × 127, truncated), under which
/// the components of a 384-d vector use only about ±6 of the ±127 levels.
fn quantize_i8(vector: &[f32]) -> Vec<i8> {
    let largest = vector.iter().fold(0f32, |m, x| m.max(x.abs()));
    if largest == 0.0 {
        return vec![0; vector.len()];
    }
    let scale = 127.0 / largest;
    vector.iter().map(|x| (x * scale).round().clamp(-127.0, 127.0) as i8).collect()
}

/// The rows scaled to unit length (a zero row stays zero: its cosine distance to anything is 1).
fn unit_rows(vectors: &[f32], dim: usize) -> Vec<f32> {
    let mut out = vectors.to_vec();
    let scale = |row: &mut [f32]| {
        let norm = distance::dot(row, row).sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    };
    if out.len() >= 64 * dim {
        pool().install(|| out.par_chunks_mut(dim).for_each(scale));
    } else {
        out.chunks_mut(dim).for_each(scale);
    }
    out
}

fn check_rows(vectors: &[f32], cols: usize, dim: usize, what: &str) -> IndexResult<usize> {
    if cols != dim {
        return Err(IndexError::InvalidArgument(format!(
            "{what} have dimension {cols}, but the index has dimension {dim}"
        )));
    }
    if !vectors.len().is_multiple_of(dim) {
        return Err(IndexError::InvalidArgument(format!(
            "{what} hold {} values, not a whole number of rows of {dim}",
            vectors.len()
        )));
    }
    if let Some(at) = vectors.iter().position(|v| !v.is_finite()) {
        return Err(IndexError::NonFinite { row: at / dim, column: at % dim });
    }
    Ok(vectors.len() / dim)
}

impl Index {
    pub fn new(options: IndexOptions) -> IndexResult<Self> {
        options.validate()?;
        let mut engine = Self::new_engine(&options)?;
        let thread_contexts = thread_contexts();
        engine.reserve_capacity_and_threads(0, thread_contexts).map_err(IndexError::engine)?;
        let unit_vectors = options.metric == Metric::Cos;
        Self::install_kernel(&mut engine, &options, unit_vectors);
        Ok(Self::assemble(
            options,
            unit_vectors,
            engine,
            KeyMap::default(),
            None,
            Section::None,
            (None, None),
            thread_contexts,
        ))
    }

    fn new_engine(options: &IndexOptions) -> IndexResult<usearch::Index> {
        let engine_options = usearch::IndexOptions {
            dimensions: options.dim,
            metric: options.metric.engine(),
            quantization: options.dtype.engine(),
            connectivity: options.connectivity,
            expansion_add: options.expansion_add,
            expansion_search: options.expansion_search,
            multi: false,
        };
        usearch::Index::new(&engine_options).map_err(IndexError::engine)
    }

    /// Replaces usearch's f32 distance with ours (see `distance`); the metric kind it records, and
    /// so the file format, stay the same. Loading a file resets the metric, so this runs after it.
    /// Over unit vectors the cosine distance is `1 - a·b`, a third of the work of the full formula.
    fn f32_kernel(metric: Metric, unit_vectors: bool) -> Kernel {
        if unit_vectors {
            distance::unit_cos_kernel()
        } else {
            distance::kernel(metric)
        }
    }

    fn install_kernel(engine: &mut usearch::Index, options: &IndexOptions, unit_vectors: bool) {
        let dim = options.dim;
        match options.dtype {
            Dtype::F32 => {
                let kernel = Self::f32_kernel(options.metric, unit_vectors);
                engine.change_metric::<f32>(Box::new(move |a: *const f32, b: *const f32| {
                    // SAFETY: usearch passes two vectors of the index's dimension.
                    let (a, b) = unsafe { (std::slice::from_raw_parts(a, dim), std::slice::from_raw_parts(b, dim)) };
                    kernel(a, b)
                }));
            }
            Dtype::F16 if unit_vectors => {
                if let Some(kernel) = distance::unit_cos_f16_kernel() {
                    engine.change_metric::<usearch::f16>(Box::new(
                        move |a: *const usearch::f16, b: *const usearch::f16| {
                            // SAFETY: usearch passes two vectors of the index's dimension; its `f16`
                            // wraps the raw bits of an IEEE half in one `i16`, as `f16::from_i16s` assumes.
                            let (a, b) = unsafe {
                                (
                                    std::slice::from_raw_parts(a as *const u16, dim),
                                    std::slice::from_raw_parts(b as *const u16, dim),
                                )
                            };
                            kernel(a, b)
                        },
                    ));
                }
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        options: IndexOptions,
        unit_vectors: bool,
        engine: usearch::Index,
        keys: KeyMap,
        frozen: Option<FrozenGraph>,
        section: Section,
        mapping: (Option<memmap2::Mmap>, Option<String>),
        thread_contexts: usize,
    ) -> Self {
        let (mapping, viewed_from) = mapping;
        Index {
            kernel: Self::f32_kernel(options.metric, unit_vectors),
            options,
            unit_vectors,
            state: RwLock::new(State {
                engine,
                keys,
                frozen,
                section,
                _mapping: mapping,
                viewed_from,
                searched_since_change: AtomicUsize::new(0),
            }),
            slots: Slots::new(thread_contexts),
            thread_contexts,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> IndexResult<RwLockWriteGuard<'_, State>> {
        let state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if let Some(path) = &state.viewed_from {
            return Err(IndexError::InvalidArgument(format!(
                "this index is a read-only view of {path}; use Index.load to modify it"
            )));
        }
        Ok(state)
    }

    /// The write lock, with a frozen in-memory index turned back into one that can change.
    fn write_thawed(&self) -> IndexResult<RwLockWriteGuard<'_, State>> {
        let mut state = self.write()?;
        if matches!(state.section, Section::Owned(..)) {
            let engine = {
                let section = state.section().expect("an owned section");
                let mut engine = Self::new_engine(&self.options)?;
                engine.reserve_capacity_and_threads(0, self.thread_contexts).map_err(IndexError::engine)?;
                engine.load_from_buffer(section).map_err(IndexError::engine)?;
                engine.change_expansion_add(state.engine.expansion_add());
                engine.change_expansion_search(state.engine.expansion_search());
                Self::install_kernel(&mut engine, &self.options, self.unit_vectors);
                engine
            };
            state.engine = engine;
            state.frozen = None;
            state.section = Section::None;
        }
        state.searched_since_change.store(0, Ordering::Relaxed);
        Ok(state)
    }

    /// The read lock for a search of `rows` queries; an approximate search of an f32 index freezes
    /// it first when enough searches have run since it last changed.
    fn read_for_search(&self, rows: usize, approximate: bool) -> IndexResult<RwLockReadGuard<'_, State>> {
        let state = self.read();
        if !approximate || self.options.dtype != Dtype::F32 || !matches!(state.section, Section::None) {
            return Ok(state);
        }
        let searched = state.searched_since_change.fetch_add(rows, Ordering::Relaxed).saturating_add(rows);
        let size = state.engine.size();
        if size == 0 || searched.saturating_mul(FREEZE_AFTER_SEARCHES_PER_VECTOR) < size {
            return Ok(state);
        }
        drop(state);
        {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            if !self.freeze(&mut state) {
                // usearch serves the searches; freezing is tried again after as many more.
                state.searched_since_change.store(0, Ordering::Relaxed);
            }
        }
        Ok(self.read())
    }

    /// Serializes the engine into memory and makes it a view of those bytes, which `FrozenGraph`
    /// then searches in place: the vectors are not held twice. Whether the index is frozen after;
    /// when freezing fails, the index is left as it was (and a search goes on through usearch).
    fn freeze(&self, state: &mut State) -> bool {
        if !matches!(state.section, Section::None) {
            return true;
        }
        if state.viewed_from.is_some() || state.engine.size() == 0 {
            return false;
        }
        self.try_freeze(state).is_ok()
    }

    fn try_freeze(&self, state: &mut State) -> IndexResult<()> {
        let mut bytes = AlignedBytes::zeroed(state.engine.serialized_length());
        state.engine.save_to_buffer(bytes.as_mut_slice()).map_err(IndexError::engine)?;
        let expected = Self::expected_graph(&self.options, state.engine.size() as u64);
        let layout = graph::check(bytes.as_slice(), &expected)
            .map_err(|reason| IndexError::engine(format!("usearch serialized a graph lrat cannot read: {reason}")))?;
        let frozen = FrozenGraph::new(layout, self.options.dim, bytes.as_slice())
            .ok_or_else(|| IndexError::engine("the serialized vectors are not aligned for in-place search"))?;
        let mut engine = Self::new_engine(&self.options)?;
        engine.reserve_capacity_and_threads(0, self.thread_contexts).map_err(IndexError::engine)?;
        // SAFETY: `bytes` moves into `state.section` below, which `State` drops after the engine;
        // moving it does not move its heap storage.
        unsafe { engine.view_from_buffer(bytes.as_slice()) }.map_err(IndexError::engine)?;
        engine.change_expansion_add(state.engine.expansion_add());
        engine.change_expansion_search(state.engine.expansion_search());
        Self::install_kernel(&mut engine, &self.options, self.unit_vectors);
        let range = 0..bytes.as_slice().len();
        state.engine = engine;
        state.frozen = Some(frozen);
        state.section = Section::Owned(bytes, range);
        Ok(())
    }

    pub fn options(&self) -> &IndexOptions {
        &self.options
    }

    pub fn len(&self) -> usize {
        self.read().engine.size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn key_kind(&self) -> KeyKind {
        self.read().keys.kind()
    }

    pub fn is_view(&self) -> bool {
        self.read().viewed_from.is_some()
    }

    /// Bytes held by the graph and vectors (for a view, mostly pages of the mapped file).
    pub fn memory_usage(&self) -> usize {
        let state = self.read();
        let owned_section = match &state.section {
            Section::Owned(bytes, _) => bytes.as_slice().len(),
            _ => 0,
        };
        state.engine.memory_usage() + owned_section + state.frozen.as_ref().map_or(0, FrozenGraph::memory_usage)
    }

    pub fn expansion_search(&self) -> usize {
        self.read().engine.expansion_search()
    }

    pub fn set_expansion_search(&self, expansion: usize) -> IndexResult<()> {
        if expansion == 0 {
            return Err(IndexError::InvalidArgument("expansion_search must be positive".into()));
        }
        let state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.engine.change_expansion_search(expansion);
        Ok(())
    }

    /// Adds `keys.len()` vectors (`vectors` row-major with `cols` columns). The batch is rejected as a
    /// whole, and the index unchanged, when a key is already present or repeats within the batch.
    pub fn add(&self, keys: &Keys, vectors: &[f32], cols: usize) -> IndexResult<()> {
        let dim = self.options.dim;
        let rows = check_rows(vectors, cols, dim, "vectors")?;
        if rows != keys.len() {
            return Err(IndexError::InvalidArgument(format!("got {} keys for {rows} vectors", keys.len())));
        }
        let mut state = self.write_thawed()?;
        let state = &mut *state;
        let ids = {
            let engine = &state.engine;
            state.keys.insert(keys, |id| engine.contains(id))?
        };
        if ids.is_empty() {
            return Ok(());
        }
        let needed = state.engine.size() + ids.len();
        if needed > state.engine.capacity() {
            let grown = needed.max(state.engine.capacity() * 3 / 2);
            if let Err(e) = state.engine.reserve_capacity_and_threads(grown, self.thread_contexts) {
                ids.iter().for_each(|&id| state.keys.forget(id));
                return Err(IndexError::engine(e));
            }
        }
        let engine = &state.engine;
        let slots = &self.slots;
        let unit_vectors = self.unit_vectors;
        let dtype = self.options.dtype;
        let added = pool().install(|| {
            ids.par_iter().zip(vectors.par_chunks(dim)).try_for_each(|(&id, vector)| {
                let _slot = slots.acquire();
                if dtype == Dtype::I8 {
                    engine.add::<i8>(id, &quantize_i8(vector))
                } else if unit_vectors {
                    // Row by row, so that a large batch is not copied whole.
                    engine.add::<f32>(id, &unit_rows(vector, dim))
                } else {
                    engine.add::<f32>(id, vector)
                }
            })
        });
        if let Err(e) = added {
            for &id in &ids {
                if engine.contains(id) {
                    let _ = engine.remove(id);
                }
                state.keys.forget(id);
            }
            return Err(IndexError::engine(e));
        }
        Ok(())
    }

    /// Removes keys; all must be present, else nothing is removed. Returns how many were removed.
    pub fn remove(&self, keys: &Keys) -> IndexResult<usize> {
        let mut state = self.write_thawed()?;
        let ids = state.keys.lookup(keys)?;
        let mut unique = HashSet::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            match id {
                Some(id) if state.engine.contains(*id) => {
                    unique.insert(*id);
                }
                _ => return Err(IndexError::MissingKey(KeyMap::describe(keys, i))),
            }
        }
        for &id in &unique {
            state.engine.remove(id).map_err(IndexError::engine)?;
            state.keys.forget(id);
        }
        Ok(unique.len())
    }

    pub fn contains(&self, keys: &Keys) -> IndexResult<Vec<bool>> {
        let state = self.read();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let ids = match state.keys.lookup(keys) {
            Ok(ids) => ids,
            // A key of the other kind is simply not in the index.
            Err(IndexError::KeyType(_)) => return Ok(vec![false; keys.len()]),
            Err(e) => return Err(e),
        };
        Ok(ids.into_iter().map(|id| id.is_some_and(|id| state.engine.contains(id))).collect())
    }

    /// Finds the `k` nearest neighbours of each query (`queries` row-major with `cols` columns).
    /// `exact` compares each query with every vector. `allowed` restricts results to those keys (keys
    /// not in the index are ignored); sets of at most `EXACT_FILTER_LIMIT` keys are searched exactly.
    /// A batch runs on `threads` threads (`None`: as many as the pool has, `LRAT_NUM_THREADS` or the
    /// cores), each taking the next run of rows until none is left; one thread searches on the
    /// calling thread. An approximate search of an f32 index that has changed freezes it first once
    /// enough rows have been searched since (see `FREEZE_AFTER_SEARCHES_PER_VECTOR`).
    pub fn search(
        &self,
        queries: &[f32],
        cols: usize,
        k: usize,
        exact: bool,
        allowed: Option<&Keys>,
        threads: Option<usize>,
    ) -> IndexResult<SearchResults> {
        let dim = self.options.dim;
        let rows = check_rows(queries, cols, dim, "queries")?;
        if k == 0 {
            return Err(IndexError::InvalidArgument("k must be at least 1".into()));
        }
        if threads == Some(0) {
            return Err(IndexError::InvalidArgument("threads must be at least 1".into()));
        }
        let state = self.read_for_search(rows, !exact && allowed.is_none())?;
        let size = state.engine.size();
        if size == 0 {
            return Err(IndexError::InvalidArgument("cannot search an empty index".into()));
        }
        if k > size {
            return Err(IndexError::InvalidArgument(format!(
                "k={k} is larger than the number of vectors in the index ({size})"
            )));
        }
        let filter = match allowed {
            None => None,
            Some(keys) => Some(self.resolve_filter(&state, keys)?),
        };
        let unit;
        let queries = if self.unit_vectors {
            unit = unit_rows(queries, dim);
            &unit[..]
        } else {
            queries
        };
        let mut found = vec![NO_KEY; rows * k];
        let mut distances = vec![f32::INFINITY; rows * k];
        let quantized = self.options.dtype == Dtype::I8;
        let in_place = match (&state.frozen, state.section()) {
            (Some(frozen), Some(section)) if !exact && filter.is_none() => Some((frozen, section)),
            _ => None,
        };
        let expansion = state.engine.expansion_search();
        let search_row = |query: &[f32], keys_out: &mut [u64], dist_out: &mut [f32]| -> IndexResult<()> {
            if let Some((frozen, section)) = in_place {
                frozen.search(section, query, k, expansion, self.kernel, keys_out, dist_out);
                return Ok(());
            }
            let allowed = match &filter {
                Some(Filter::Listed { ids, vectors }) => {
                    self.brute_force(query, ids, vectors, keys_out, dist_out);
                    return Ok(());
                }
                Some(Filter::Set(ids)) => Some(ids),
                None => None,
            };
            let _slot = self.slots.acquire();
            let out = (keys_out, dist_out);
            if quantized {
                engine_search(&state.engine, &quantize_i8(query), size, k, exact, allowed, out)
            } else {
                engine_search(&state.engine, query, size, k, exact, allowed, out)
            }
        };
        let search_rows = |queries: &[f32], keys_out: &mut [u64], dist_out: &mut [f32]| {
            queries
                .chunks(dim)
                .zip(keys_out.chunks_mut(k))
                .zip(dist_out.chunks_mut(k))
                .try_for_each(|((query, keys_out), dist_out)| search_row(query, keys_out, dist_out))
        };
        // A single query, or one thread asked for, never touches the pool.
        let threads = match threads {
            _ if rows == 1 => 1,
            Some(n) => n.min(rows),
            None => pool().current_num_threads().min(rows),
        };
        if threads <= 1 {
            search_rows(queries, &mut found, &mut distances)?;
        } else {
            // `threads` workers, however large the pool, each taking the next small run of rows
            // until none is left: a worker slowed by other load takes fewer runs.
            let pool = pool();
            let wider;
            let pool = if threads <= pool.current_num_threads() {
                &*pool
            } else {
                wider = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| {
                    IndexError::InvalidArgument(format!("could not start {threads} search threads: {e}"))
                })?;
                &wider
            };
            let per_run = rows.div_ceil(threads * RUNS_PER_THREAD);
            let runs =
                queries.chunks(per_run * dim).zip(found.chunks_mut(per_run * k)).zip(distances.chunks_mut(per_run * k));
            let runs = std::sync::Mutex::new(runs);
            let next_run = || runs.lock().unwrap_or_else(|p| p.into_inner()).next();
            let failed = std::sync::Mutex::new(None);
            pool.install(|| {
                rayon::scope(|scope| {
                    for _ in 0..threads {
                        scope.spawn(|_| {
                            while let Some(((queries, keys_out), dist_out)) = next_run() {
                                if let Err(e) = search_rows(queries, keys_out, dist_out) {
                                    failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                                    return;
                                }
                            }
                        });
                    }
                })
            });
            if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
                return Err(e);
            }
        }
        Ok(SearchResults { keys: state.keys.to_result_keys(&found), distances, rows, k })
    }

    fn resolve_filter(&self, state: &State, keys: &Keys) -> IndexResult<Filter> {
        let ids: HashSet<u64> = match state.keys.lookup(keys) {
            Ok(ids) => ids.into_iter().flatten().filter(|&id| state.engine.contains(id)).collect(),
            Err(IndexError::KeyType(msg)) => {
                return Err(IndexError::KeyType(format!("the keys to search within: {msg}")))
            }
            Err(e) => return Err(e),
        };
        if ids.len() > EXACT_FILTER_LIMIT {
            return Ok(Filter::Set(ids));
        }
        let dim = self.options.dim;
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        let mut vectors = vec![0f32; ids.len() * dim];
        for (&id, out) in ids.iter().zip(vectors.chunks_mut(dim)) {
            state.engine.get::<f32>(id, out).map_err(IndexError::engine)?;
        }
        Ok(Filter::Listed { ids, vectors })
    }

    fn brute_force(&self, query: &[f32], ids: &[u64], vectors: &[f32], keys_out: &mut [u64], dist_out: &mut [f32]) {
        let metric = self.options.metric;
        let mut scored: Vec<(f32, u64)> = ids
            .iter()
            .zip(vectors.chunks(self.options.dim))
            .map(|(&id, v)| (distance::distance(metric, query, v), id))
            .collect();
        let k = keys_out.len().min(scored.len());
        if k < scored.len() {
            scored.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            scored.truncate(k);
        }
        scored.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (i, (d, id)) in scored.into_iter().enumerate() {
            keys_out[i] = id;
            dist_out[i] = d;
        }
    }

    /// Writes the index to `path` atomically (temporary file, then rename).
    pub fn save(&self, path: &str) -> IndexResult<()> {
        let state = self.read();
        let serialized;
        let engine = match state.section() {
            Some(section) => section,
            None => {
                let mut bytes = vec![0u8; state.engine.serialized_length()];
                state.engine.save_to_buffer(&mut bytes).map_err(IndexError::engine)?;
                serialized = bytes;
                &serialized[..]
            }
        };
        let keys = state.keys.to_bytes();
        let header = Header {
            options: IndexOptions { expansion_search: state.engine.expansion_search(), ..self.options.clone() },
            key_kind: state.keys.kind(),
            count: state.engine.size() as u64,
            engine_len: engine.len() as u64,
            keys_len: keys.len() as u64,
            unit_vectors: self.unit_vectors,
        };
        file::write_atomically(path, &header, engine, &keys)
    }

    /// Reads an index saved by `save` into memory.
    /// An f32 index stays in the bytes read, frozen for search, until it is changed.
    pub fn load(path: &str) -> IndexResult<Self> {
        let bytes = Self::read_file(path)?;
        let header = Header::decode(path, bytes.as_slice())?;
        let keys = Self::decode_keys(path, &header, bytes.as_slice())?;
        let range = header.engine_range();
        let layout = Self::check_graph(path, &header, &keys, &bytes.as_slice()[range.clone()])?;
        let mut engine = Self::new_engine(&header.options)?;
        let thread_contexts = thread_contexts();
        engine.reserve_capacity_and_threads(0, thread_contexts).map_err(IndexError::engine)?;
        let section = &bytes.as_slice()[range.clone()];
        let (frozen, section) = if header.options.dtype == Dtype::F32 {
            // SAFETY: `bytes` moves into the `State`, which drops the engine first; moving it does
            // not move its heap storage.
            unsafe { engine.view_from_buffer(section) }.map_err(|e| Self::engine_file_error(path, e))?;
            (FrozenGraph::new(layout, header.options.dim, section), Section::Owned(bytes, range))
        } else {
            engine.load_from_buffer(section).map_err(|e| Self::engine_file_error(path, e))?;
            (None, Section::None)
        };
        Self::check_engine(path, &header, &engine)?;
        Self::install_kernel(&mut engine, &header.options, header.unit_vectors);
        Ok(Self::assemble(
            header.options,
            header.unit_vectors,
            engine,
            keys,
            frozen,
            section,
            (None, None),
            thread_contexts,
        ))
    }

    fn read_file(path: &str) -> IndexResult<AlignedBytes> {
        use std::io::Read;
        let io = |source| IndexError::Io { path: path.to_string(), source };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let len = usize::try_from(len).map_err(|_| IndexError::File {
            path: path.to_string(),
            reason: format!("the file's {len} bytes do not fit in this machine's memory"),
        })?;
        let mut bytes = AlignedBytes::zeroed(len);
        file.read_exact(bytes.as_mut_slice()).map_err(io)?;
        Ok(bytes)
    }

    /// Memory-maps an index saved by `save`, read-only: opening is fast and pages are shared between
    /// processes. The file must not be modified while viewed (`save` replaces files by rename, which is safe).
    pub fn view(path: &str) -> IndexResult<Self> {
        let io = |source| IndexError::Io { path: path.to_string(), source };
        let handle = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the mapping is read-only and outlives the engine that reads it (see `State`).
        let mapping = unsafe { memmap2::Mmap::map(&handle) }.map_err(io)?;
        let header = Header::decode(path, &mapping)?;
        let keys = Self::decode_keys(path, &header, &mapping)?;
        let range = header.engine_range();
        let layout = Self::check_graph(path, &header, &keys, &mapping[range.clone()])?;
        let frozen = match header.options.dtype {
            Dtype::F32 => FrozenGraph::new(layout, header.options.dim, &mapping[range.clone()]),
            _ => None,
        };
        let mut engine = Self::new_engine(&header.options)?;
        let thread_contexts = thread_contexts();
        engine.reserve_capacity_and_threads(0, thread_contexts).map_err(IndexError::engine)?;
        // SAFETY: the engine keeps pointers into `mapping`, which `State` drops after the engine.
        unsafe { engine.view_from_buffer(&mapping[header.engine_range()]) }
            .map_err(|e| Self::engine_file_error(path, e))?;
        Self::check_engine(path, &header, &engine)?;
        Self::install_kernel(&mut engine, &header.options, header.unit_vectors);
        Ok(Self::assemble(
            header.options,
            header.unit_vectors,
            engine,
            keys,
            frozen,
            Section::Mapped(range),
            (Some(mapping), Some(path.to_string())),
            thread_contexts,
        ))
    }

    fn decode_keys(path: &str, header: &Header, bytes: &[u8]) -> IndexResult<KeyMap> {
        KeyMap::from_bytes(header.key_kind, &bytes[header.keys_range()]).map_err(|reason| IndexError::File {
            path: path.to_string(),
            reason: format!("corrupt index file: {reason}"),
        })
    }

    /// usearch trusts the bytes it reads: a crafted graph must be refused before it sees them.
    fn check_graph(path: &str, header: &Header, keys: &KeyMap, engine: &[u8]) -> IndexResult<graph::Layout> {
        let bad = |reason: String| IndexError::File {
            path: path.to_string(),
            reason: format!("corrupt index file: {reason}"),
        };
        let layout = graph::check(engine, &Self::expected_graph(&header.options, header.count)).map_err(bad)?;
        if let Some((node, key)) = layout.keys.iter().enumerate().find(|(_, &k)| !keys.knows(k)) {
            return Err(bad(format!("graph node {node} has key {key}, which the key table does not hold")));
        }
        Ok(layout)
    }

    fn expected_graph(options: &IndexOptions, count: u64) -> graph::Expected {
        let (scalar_code, scalar_bytes) = match options.dtype {
            Dtype::F32 => (11, 4),
            Dtype::F16 => (12, 2),
            Dtype::I8 => (23, 1),
        };
        let metric_code = match options.metric {
            Metric::Cos => b'c',
            Metric::Ip => b'i',
            Metric::L2 => b'e',
        };
        graph::Expected {
            metric_code,
            scalar_code,
            dim: options.dim,
            bytes_per_vector: options.dim * scalar_bytes,
            connectivity: options.connectivity,
            count,
        }
    }

    fn engine_file_error(path: &str, e: impl std::fmt::Display) -> IndexError {
        IndexError::File {
            path: path.to_string(),
            reason: format!("corrupt index file: usearch could not read it ({e})"),
        }
    }

    fn check_engine(path: &str, header: &Header, engine: &usearch::Index) -> IndexResult<()> {
        engine.change_expansion_add(header.options.expansion_add);
        engine.change_expansion_search(header.options.expansion_search);
        if engine.dimensions() != header.options.dim || engine.size() as u64 != header.count {
            return Err(IndexError::File {
                path: path.to_string(),
                reason: format!(
                    "corrupt index file: the header announces {} vectors of dimension {}, the graph holds {} of dimension {}",
                    header.count,
                    header.options.dim,
                    engine.size(),
                    engine.dimensions()
                ),
            });
        }
        Ok(())
    }
}

enum Filter {
    /// Few enough keys to compare each: their usearch keys and vectors.
    Listed {
        ids: Vec<u64>,
        vectors: Vec<f32>,
    },
    Set(HashSet<u64>),
}

/// One query on the engine, in the type the index stores (i8 for `i8` indexes, which lrat
/// quantizes itself; f32 otherwise, which usearch casts). `allowed` restricts the search; `exact`
/// applies to unrestricted searches.
fn engine_search<T: usearch::VectorType>(
    engine: &usearch::Index,
    query: &[T],
    size: usize,
    k: usize,
    exact: bool,
    allowed: Option<&HashSet<u64>>,
    (keys_out, dist_out): (&mut [u64], &mut [f32]),
) -> IndexResult<()> {
    if let Some(ids) = allowed {
        let matches = engine.filtered_search(query, k, |key| ids.contains(&key)).map_err(IndexError::engine)?;
        copy_matches(&matches.keys, &matches.distances, keys_out, dist_out);
        return Ok(());
    }
    if !exact {
        let matches = engine.search(query, k).map_err(IndexError::engine)?;
        copy_matches(&matches.keys, &matches.distances, keys_out, dist_out);
        return Ok(());
    }
    // Ties are broken by id, so that exact results do not depend on the order in which parallel
    // insertion gave vectors their slots. A tie that reaches past the margin asks for every vector.
    let mut count = (2 * k + 16).min(size);
    loop {
        let matches = engine.exact_search(query, count).map_err(IndexError::engine)?;
        let n = matches.keys.len();
        let tie_past_margin = n > k && n < size && matches.distances[k - 1] == matches.distances[n - 1];
        if !tie_past_margin {
            let mut ranked: Vec<(f32, u64)> =
                matches.distances.iter().copied().zip(matches.keys.iter().copied()).collect();
            ranked.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (i, (d, id)) in ranked.into_iter().take(keys_out.len()).enumerate() {
                keys_out[i] = id;
                dist_out[i] = d;
            }
            return Ok(());
        }
        count = size;
    }
}

fn copy_matches(keys: &[u64], distances: &[f32], keys_out: &mut [u64], dist_out: &mut [f32]) {
    let n = keys.len().min(keys_out.len());
    keys_out[..n].copy_from_slice(&keys[..n]);
    dist_out[..n].copy_from_slice(&distances[..n]);
}
