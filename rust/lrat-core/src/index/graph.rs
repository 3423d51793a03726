//! Structural checks of the usearch section of an index file, run before usearch reads it: usearch
//! trusts its input, so a file with valid checksums but a crafted graph (a neighbour id past the
//! end, a level count that shifts every node, a short vector table) would make it read outside the
//! buffer.
//!
//! The section, as usearch 2 writes it (`index_dense_gt::save_to_stream`): the vector table (row
//! count and bytes per row as u32, then the rows), a 64-byte head (magic `usearch`, version,
//! metric, scalar, key and slot kinds as u8, present and deleted counts, dimensions as u64, the
//! multi flag), the graph header (size, connectivity, base connectivity, max level, entry slot as
//! u64), one i16 level per node, then the nodes: key (u64), level (i16), the base neighbour list
//! (u32 count, `connectivity_base` u32 slots) and one list per upper level (u32 count,
//! `connectivity` slots). Every integer is little endian.

const MAGIC: &[u8] = b"usearch";
const HEAD_LEN: usize = 64;
const SCALAR_U64: u8 = 14;
const SCALAR_U32: u8 = 15;
/// Far above any level HNSW reaches (its expected top level grows as log(n) / log(M)).
const MAX_LEVEL: u64 = 64;

/// What the checks need to know from the lrat header.
pub struct Expected {
    /// usearch's codes of the metric (`'c'`, `'i'`, `'e'`) and the scalar kind (11 f32, 12 f16,
    /// 23 i8): usearch rebuilds its metric from the file's, so they must be the header's.
    pub metric_code: u8,
    pub scalar_code: u8,
    pub dim: usize,
    pub bytes_per_vector: usize,
    pub connectivity: usize,
    /// Entries not removed.
    pub count: u64,
}

/// A cursor that fails with the offset instead of reading past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or_else(|| {
            format!(
                "the graph section ends at byte {} inside {what} (needs {n} bytes from byte {})",
                self.bytes.len(),
                self.at
            )
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }

    fn i16(&mut self, what: &str) -> Result<i16, String> {
        Ok(i16::from_le_bytes(self.take(2, what)?.try_into().expect("2 bytes")))
    }
}

/// Where things lie in a checked graph section (offsets from its start).
pub struct Layout {
    /// Offset of the first vector row; row `i` is node `i`'s vector.
    pub vectors_at: usize,
    pub row_bytes: usize,
    /// Each node's key (usearch marks removed entries with `u64::MAX`).
    pub keys: Vec<u64>,
    /// Offset of each node's record (its key, level, then neighbour lists).
    pub nodes_at: Vec<usize>,
    pub connectivity: usize,
    pub connectivity_base: usize,
    pub max_level: usize,
    pub entry: usize,
}

/// The layout of the graph when every check passes; else what is wrong, with where.
pub fn check(engine: &[u8], expected: &Expected) -> Result<Layout, String> {
    let mut r = Reader { bytes: engine, at: 0 };
    let rows = r.u32("the vector table's row count")? as u64;
    let row_bytes = r.u32("the vector table's row width")? as usize;
    if row_bytes != expected.bytes_per_vector {
        return Err(format!(
            "vector rows are {row_bytes} bytes, the header's dimension and dtype make {}",
            expected.bytes_per_vector
        ));
    }
    let table = (rows as usize).checked_mul(row_bytes).ok_or("the vector table's size overflows")?;
    let vectors_at = r.at;
    r.take(table, "the vector table")?;

    let head = r.take(HEAD_LEN, "the usearch head")?;
    if &head[..MAGIC.len()] != MAGIC {
        return Err("the graph section lacks usearch's signature".into());
    }
    let (metric_code, scalar_code) = (head[13], head[14]);
    if metric_code != expected.metric_code || scalar_code != expected.scalar_code {
        return Err(format!(
            "the graph's metric and scalar codes are {metric_code} and {scalar_code}; the header's make {} and {}",
            expected.metric_code, expected.scalar_code
        ));
    }
    let (key_kind, slot_kind) = (head[15], head[16]);
    if key_kind != SCALAR_U64 || slot_kind != SCALAR_U32 {
        return Err(format!(
            "the graph uses key kind {key_kind} and slot kind {slot_kind}; lrat writes u64 keys and u32 slots"
        ));
    }
    let u64_in_head = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().expect("8 bytes"));
    let (present, deleted, dims, multi) = (u64_in_head(17), u64_in_head(25), u64_in_head(33), head[41]);
    if dims != expected.dim as u64 {
        return Err(format!("the graph holds vectors of dimension {dims}, the header says {}", expected.dim));
    }
    if multi != 0 {
        return Err("the graph allows several vectors per key; lrat indexes never do".into());
    }
    if present != expected.count || present.checked_add(deleted) != Some(rows) {
        return Err(format!(
            "the graph counts {present} present and {deleted} removed entries in {rows} rows; the header announces {} entries",
            expected.count
        ));
    }

    let size = r.u64("the graph header")?;
    let connectivity = r.u64("the graph header")?;
    let connectivity_base = r.u64("the graph header")?;
    let max_level = r.u64("the graph header")?;
    let entry_slot = r.u64("the graph header")?;
    if size != rows {
        return Err(format!("the graph has {size} nodes for {rows} vectors"));
    }
    if connectivity != expected.connectivity as u64 || !(connectivity..=4 * connectivity).contains(&connectivity_base) {
        return Err(format!(
            "the graph's connectivity is {connectivity} (base {connectivity_base}); the header says {}",
            expected.connectivity
        ));
    }
    if max_level > MAX_LEVEL {
        return Err(format!("the graph's top level is {max_level}, above {MAX_LEVEL}"));
    }
    if size > 0 && entry_slot >= size {
        return Err(format!("the graph's entry point is node {entry_slot} of {size}"));
    }

    let size = size as usize;
    let levels_bytes = r.take(size.checked_mul(2).ok_or("the level table's size overflows")?, "the level table")?;
    let level_of = |i: usize| i16::from_le_bytes([levels_bytes[2 * i], levels_bytes[2 * i + 1]]);
    for i in 0..size {
        let level = level_of(i);
        if level < 0 || level as u64 > max_level {
            return Err(format!("node {i} has level {level}, outside 0..={max_level}"));
        }
    }
    if size > 0 && level_of(entry_slot as usize) as u64 != max_level {
        return Err(format!("the entry point, node {entry_slot}, is not on the top level {max_level}"));
    }

    let mut keys = Vec::with_capacity(size);
    let mut nodes_at = Vec::with_capacity(size);
    let capacities = (connectivity_base as u32, connectivity as u32);
    for i in 0..size {
        nodes_at.push(r.at);
        keys.push(r.u64("a node's key")?);
        let level = r.i16("a node's level")?;
        if level != level_of(i) {
            return Err(format!("node {i} says level {level}, the level table {}", level_of(i)));
        }
        for l in 0..=level as usize {
            let capacity = if l == 0 { capacities.0 } else { capacities.1 };
            let count = r.u32("a neighbour count")?;
            if count > capacity {
                return Err(format!("node {i} has {count} neighbours on level {l}, more than its {capacity} places"));
            }
            let slots = r.take(capacity as usize * 4, "a neighbour list")?;
            for s in slots[..count as usize * 4].chunks_exact(4) {
                let neighbour = u32::from_le_bytes(s.try_into().expect("4 bytes")) as usize;
                if neighbour >= size || (level_of(neighbour) as usize) < l {
                    return Err(format!("node {i} links on level {l} to node {neighbour}, which is not on that level"));
                }
            }
        }
    }
    if r.at != engine.len() {
        return Err(format!("the graph section has {} bytes after its last node", engine.len() - r.at));
    }
    Ok(Layout {
        vectors_at,
        row_bytes,
        keys,
        nodes_at,
        connectivity: connectivity as usize,
        connectivity_base: connectivity_base as usize,
        max_level: max_level as usize,
        entry: entry_slot as usize,
    })
}
