//! Index files whose checksums are valid but whose contents were crafted: every case either loads
//! (and then searches without crashing) or is refused with `IndexError::File`. The targeted cases
//! check the reason; the fuzz mutates the fields of the graph, the vector table and the key table,
//! recomputes both checksums and runs `LRAT_FUZZ_INDEX_CASES` cases (default 10,000; the long run is
//! `benches/fuzz_index_files.sh`).

use lrat_core::index::{Dtype, Index, IndexError, IndexOptions, Keys, Metric};

const HEADER_LEN: usize = 128;
const ENGINE_LEN_AT: usize = 32 + 8 * 6;
const KEYS_OFFSET_AT: usize = 32 + 8 * 7;
const KEYS_LEN_AT: usize = 32 + 8 * 8;
const DIM: usize = 8;
const ROWS: usize = 300;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn vectors(rows: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..rows * DIM).map(|_| ((rng.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0).collect()
}

/// A saved index of `ROWS` string-keyed vectors, the last ten removed.
fn saved(dtype: Dtype) -> Vec<u8> {
    let index = Index::new(IndexOptions::new(DIM, Metric::Cos, dtype)).unwrap();
    let keys = Keys::Str((0..ROWS).map(|i| format!("doc-{i}")).collect());
    index.add(&keys, &vectors(ROWS, 3), DIM).unwrap();
    index.remove(&Keys::Str((ROWS - 10..ROWS).map(|i| format!("doc-{i}")).collect())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.lrat");
    index.save(path.to_str().unwrap()).unwrap();
    std::fs::read(path).unwrap()
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Recomputes the section offsets and both checksums after a mutation, as a forger would.
fn reseal(bytes: &mut [u8], engine_len: u64) {
    put_u64(bytes, ENGINE_LEN_AT, engine_len);
    put_u64(bytes, KEYS_OFFSET_AT, HEADER_LEN as u64 + engine_len);
    let keys_len = bytes.len() as u64 - HEADER_LEN as u64 - engine_len;
    put_u64(bytes, KEYS_LEN_AT, keys_len);
    let payload = crc32fast::hash(&bytes[HEADER_LEN..]);
    bytes[104..108].copy_from_slice(&payload.to_le_bytes());
    let header = crc32fast::hash(&bytes[..108]);
    bytes[108..112].copy_from_slice(&header.to_le_bytes());
}

/// Where the fields of the usearch section lie, in file offsets.
struct Layout {
    engine_len: usize,
    head: usize,
    graph_header: usize,
    levels: usize,
    nodes: usize,
}

fn layout(bytes: &[u8], bytes_per_vector: usize) -> Layout {
    let engine_len = u64_at(bytes, ENGINE_LEN_AT) as usize;
    let rows = u32::from_le_bytes(bytes[HEADER_LEN..HEADER_LEN + 4].try_into().unwrap()) as usize;
    let head = HEADER_LEN + 8 + rows * bytes_per_vector;
    let graph_header = head + 64;
    let levels = graph_header + 40;
    Layout { engine_len, head, graph_header, levels, nodes: levels + 2 * rows }
}

enum Outcome {
    Loaded,
    Refused(String),
}

/// Loads and views `bytes`; both must agree, refuse with a file error, or give an index that
/// searches.
fn open(bytes: &[u8], dir: &std::path::Path) -> Outcome {
    let path = dir.join("crafted.lrat");
    std::fs::write(&path, bytes).unwrap();
    let path = path.to_str().unwrap();
    let mut outcomes = Vec::new();
    for opened in [Index::load(path), Index::view(path)] {
        outcomes.push(match opened {
            Ok(index) => {
                let queries = vectors(4, 11);
                let found = index.search(&queries, DIM, 5, false, None, None).unwrap();
                assert_eq!(found.distances.len(), 20);
                index.search(&queries, DIM, 5, true, None, None).unwrap();
                Outcome::Loaded
            }
            Err(IndexError::File { path: p, reason }) => {
                assert_eq!(p, path);
                assert!(reason.starts_with("corrupt index file") || reason.starts_with("truncated"), "{reason}");
                Outcome::Refused(reason)
            }
            Err(other) => panic!("a crafted file gave {other}, not a file error"),
        });
    }
    match (&outcomes[0], &outcomes[1]) {
        (Outcome::Refused(a), Outcome::Refused(b)) => {
            assert_eq!(a, b);
            Outcome::Refused(a.clone())
        }
        (Outcome::Loaded, Outcome::Loaded) => Outcome::Loaded,
        _ => panic!("load and view disagree"),
    }
}

fn refused(bytes: &[u8], dir: &std::path::Path) -> String {
    match open(bytes, dir) {
        Outcome::Refused(reason) => reason,
        Outcome::Loaded => panic!("a crafted file loaded"),
    }
}

#[test]
fn crafted_graphs_with_valid_checksums_are_refused_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let original = saved(Dtype::F32);
    assert!(matches!(open(&original, dir.path()), Outcome::Loaded));
    let at = layout(&original, DIM * 4);
    let crafted = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = original.clone();
        edit(&mut bytes);
        let engine_len = (at.engine_len + bytes.len()) as u64 - original.len() as u64;
        reseal(&mut bytes, engine_len);
        refused(&bytes, dir.path())
    };
    // The first neighbour of node 0 on the base level points past the last node.
    let first_neighbour = at.nodes + 8 + 2 + 4;
    let r = crafted(&|b| b[first_neighbour..first_neighbour + 4].copy_from_slice(&(ROWS as u32 + 5).to_le_bytes()));
    assert!(r.contains("node 0 links on level 0 to node 305"), "{r}");
    let r = crafted(&|b| b[at.nodes + 8 + 2..at.nodes + 8 + 6].copy_from_slice(&u32::MAX.to_le_bytes()));
    assert!(r.contains("node 0 has 4294967295 neighbours on level 0"), "{r}");
    let r = crafted(&|b| b[at.levels..at.levels + 2].copy_from_slice(&7i16.to_le_bytes()));
    assert!(r.contains("node 0 has level 7"), "{r}");
    let r = crafted(&|b| b[at.levels + 2..at.levels + 4].copy_from_slice(&(-1i16).to_le_bytes()));
    assert!(r.contains("node 1 has level -1"), "{r}");
    let r = crafted(&|b| put_u64(b, at.graph_header + 32, ROWS as u64));
    assert!(r.contains("entry point is node 300 of 300"), "{r}");
    let r = crafted(&|b| put_u64(b, at.graph_header + 24, 1000));
    assert!(r.contains("top level is 1000"), "{r}");
    let r = crafted(&|b| put_u64(b, at.graph_header + 8, 3));
    assert!(r.contains("connectivity is 3"), "{r}");
    let r = crafted(&|b| put_u64(b, at.graph_header, 10));
    assert!(r.contains("10 nodes for 300 vectors"), "{r}");
    let r = crafted(&|b| b[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&16u32.to_le_bytes()));
    assert!(r.contains("vector rows are 16 bytes"), "{r}");
    let r = crafted(&|b| b[at.head + 14] = 10);
    assert!(r.contains("metric and scalar codes are 99 and 10"), "{r}");
    let r = crafted(&|b| b[at.head + 41] = 1);
    assert!(r.contains("several vectors per key"), "{r}");
    let r = crafted(&|b| put_u64(b, at.head + 25, 0));
    assert!(r.contains("290 present and 0 removed entries in 300 rows"), "{r}");
    let r = crafted(&|b| {
        b.drain(HEADER_LEN + at.engine_len - 3..HEADER_LEN + at.engine_len);
    });
    assert!(r.contains("ends at byte"), "{r}");
    let r = crafted(&|b| {
        b.splice(HEADER_LEN + at.engine_len..HEADER_LEN + at.engine_len, [0u8; 6]);
    });
    assert!(r.contains("6 bytes after its last node"), "{r}");
    let r = crafted(&|b| b[at.nodes..at.nodes + 8].copy_from_slice(&(ROWS as u64 + 40).to_le_bytes()));
    assert!(r.contains("graph node 0 has key 340, which the key table does not hold"), "{r}");
}

#[derive(Clone, Copy)]
enum Width {
    U8,
    I16,
    U32,
    U64,
}

fn interesting(rng: &mut Rng, rows: u64) -> u64 {
    match rng.below(9) {
        0 => 0,
        1 => 1,
        2 => rows - 1,
        3 => rows,
        4 => rows + 1,
        5 => u64::MAX,
        6 => u32::MAX as u64,
        7 => 1 << rng.below(64),
        _ => rng.next(),
    }
}

fn write_field(bytes: &mut [u8], at: usize, width: Width, v: u64) {
    match width {
        Width::U8 => bytes[at] = v as u8,
        Width::I16 => bytes[at..at + 2].copy_from_slice(&(v as i16).to_le_bytes()),
        Width::U32 => bytes[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes()),
        Width::U64 => bytes[at..at + 8].copy_from_slice(&v.to_le_bytes()),
    }
}

/// One random structural mutation: a field of the vector table, head, graph header, level table or
/// a node set to an interesting value, bytes flipped, the section cut or grown, or the key table
/// altered. Returns the new engine length.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, at: &Layout) -> usize {
    let rows = ROWS as u64;
    let end = HEADER_LEN + at.engine_len;
    for _ in 0..1 + rng.below(3) {
        match rng.below(10) {
            0 => write_field(bytes, HEADER_LEN + 4 * rng.below(2), Width::U32, interesting(rng, rows)),
            1 => write_field(bytes, at.head + 13 + rng.below(4), Width::U8, rng.next()),
            2 => write_field(bytes, at.head + 17 + 8 * rng.below(3), Width::U64, interesting(rng, rows)),
            3 => write_field(bytes, at.graph_header + 8 * rng.below(5), Width::U64, interesting(rng, rows)),
            4 => write_field(bytes, at.levels + 2 * rng.below(ROWS), Width::I16, interesting(rng, 4)),
            5 | 6 => {
                let width = [Width::U64, Width::I16, Width::U32, Width::U32][rng.below(4)];
                let offset = at.nodes + rng.below(end - at.nodes - 8);
                write_field(bytes, offset, width, interesting(rng, rows));
            }
            7 => {
                let offset = HEADER_LEN + rng.below(at.engine_len);
                bytes[offset] ^= 1 << rng.below(8);
            }
            8 => {
                let offset = end + rng.below(bytes.len() - end);
                bytes[offset] ^= 1 << rng.below(8);
            }
            _ => {
                let cut = rng.below(64);
                if rng.below(2) == 0 {
                    bytes.drain(end - cut..end);
                    return at.engine_len - cut;
                }
                bytes.splice(end..end, std::iter::repeat_n(0u8, cut));
                return at.engine_len + cut;
            }
        }
    }
    at.engine_len
}

#[test]
fn fuzzed_index_files_never_crash_and_refusals_name_the_file() {
    let cases: usize = std::env::var("LRAT_FUZZ_INDEX_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED_1DE5);
    let originals = [(saved(Dtype::F32), DIM * 4), (saved(Dtype::I8), DIM)];
    let (mut loaded, mut refused) = (0usize, 0usize);
    for case in 0..cases {
        let (original, bytes_per_vector) = &originals[case % originals.len()];
        let at = layout(original, *bytes_per_vector);
        let mut bytes = original.clone();
        let engine_len = mutate(&mut rng, &mut bytes, &at);
        reseal(&mut bytes, engine_len as u64);
        match open(&bytes, dir.path()) {
            Outcome::Loaded => loaded += 1,
            Outcome::Refused(_) => refused += 1,
        }
    }
    eprintln!("{cases} crafted index files: {refused} refused, {loaded} loaded and searched");
    assert_eq!(loaded + refused, cases);
    assert!(refused > cases / 2, "most mutations break the structure: {refused} of {cases} refused");
}
