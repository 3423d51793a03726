//! Behaviour of `lrat_core::index::Index`: recall against exact search, keys, restricted search,
//! removal, the file format (round trip, view, corruption) and concurrent searches.

use std::collections::HashSet;

use lrat_core::index::{Dtype, Index, IndexError, IndexOptions, Keys, Metric, ResultKeys};

/// Deterministic pseudo-random vectors (xorshift), values in [-1, 1).
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

fn doc_keys(n: usize) -> Keys {
    Keys::Str((0..n).map(|i| format!("doc-{i}")).collect())
}

fn built(n: usize, dim: usize, metric: Metric, dtype: Dtype) -> (Index, Vec<f32>) {
    let index = Index::new(IndexOptions::new(dim, metric, dtype)).unwrap();
    let data = vectors(n, dim, 7);
    index.add(&doc_keys(n), &data, dim).unwrap();
    (index, data)
}

fn str_keys(r: &ResultKeys) -> Vec<Option<String>> {
    match r {
        ResultKeys::Str(v) => v.iter().map(|k| k.as_ref().map(|s| s.to_string())).collect(),
        ResultKeys::Int(_) => panic!("expected string keys"),
    }
}

fn recall(approx: &[Option<String>], exact: &[Option<String>], k: usize) -> f64 {
    let mut hits = 0;
    for (a, e) in approx.chunks(k).zip(exact.chunks(k)) {
        let truth: HashSet<_> = e.iter().collect();
        hits += a.iter().filter(|x| truth.contains(x)).count();
    }
    hits as f64 / exact.len() as f64
}

#[test]
fn approximate_search_recalls_exact_neighbours() {
    let dim = 32;
    for metric in [Metric::Cos, Metric::Ip, Metric::L2] {
        let (index, _) = built(3000, dim, metric, Dtype::F32);
        let queries = vectors(100, dim, 99);
        let approx = index.search(&queries, dim, 10, false, None, None).unwrap();
        let exact = index.search(&queries, dim, 10, true, None, None).unwrap();
        let r = recall(&str_keys(&approx.keys), &str_keys(&exact.keys), 10);
        assert!(r >= 0.9, "{metric:?} recall {r}");
        // Exact distances come sorted.
        for row in exact.distances.chunks(10) {
            assert!(row.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}

#[test]
fn a_stored_vector_finds_itself_first() {
    let dim = 16;
    let (index, data) = built(500, dim, Metric::L2, Dtype::F32);
    let results = index.search(&data[dim * 42..dim * 43], dim, 1, false, None, None).unwrap();
    assert_eq!(str_keys(&results.keys), vec![Some("doc-42".to_string())]);
    assert!(results.distances[0].abs() < 1e-4);
}

#[test]
fn restricted_search_returns_only_allowed_keys_and_pads() {
    let dim = 8;
    let (index, data) = built(2000, dim, Metric::Cos, Dtype::F32);
    let allowed = Keys::Str(vec!["doc-3".into(), "doc-500".into(), "doc-1999".into(), "unknown".into()]);
    let results = index.search(&data[..dim * 2], dim, 5, false, Some(&allowed), None).unwrap();
    let keys = str_keys(&results.keys);
    let permitted: HashSet<_> = ["doc-3", "doc-500", "doc-1999"].iter().map(|s| Some(s.to_string())).collect();
    for row in keys.chunks(5) {
        assert!(row[..3].iter().all(|k| permitted.contains(k)), "{row:?}");
        assert_eq!(&row[3..], &[None, None]);
    }
    assert_eq!(keys[0], Some("doc-3".to_string()));
    assert!(results.distances[3].is_infinite());

    // A large set goes through the HNSW filter and still respects it.
    let big = Index::new(IndexOptions::new(dim, Metric::Cos, Dtype::F32)).unwrap();
    let n = lrat_core::index::EXACT_FILTER_LIMIT * 2 + 10;
    big.add(&doc_keys(n), &vectors(n, dim, 3), dim).unwrap();
    let wide = Keys::Str((0..n).step_by(2).map(|i| format!("doc-{i}")).collect());
    let results = big.search(&vectors(20, dim, 5), dim, 10, false, Some(&wide), None).unwrap();
    for key in str_keys(&results.keys).into_iter().flatten() {
        let number: usize = key.trim_start_matches("doc-").parse().unwrap();
        assert_eq!(number % 2, 0, "{key}");
    }
}

#[test]
fn remove_contains_len_and_duplicates() {
    let dim = 4;
    let (index, data) = built(100, dim, Metric::L2, Dtype::F32);
    assert_eq!(index.len(), 100);
    let probe = Keys::Str(vec!["doc-5".into(), "nope".into()]);
    assert_eq!(index.contains(&probe).unwrap(), vec![true, false]);
    assert_eq!(index.remove(&Keys::Str(vec!["doc-5".into()])).unwrap(), 1);
    assert_eq!(index.len(), 99);
    assert_eq!(index.contains(&probe).unwrap(), vec![false, false]);
    let results = index.search(&data[dim * 5..dim * 6], dim, 99, true, None, None).unwrap();
    assert!(!str_keys(&results.keys).contains(&Some("doc-5".to_string())));
    assert!(matches!(index.remove(&Keys::Str(vec!["doc-6".into(), "doc-5".into()])), Err(IndexError::MissingKey(_))));
    assert_eq!(index.len(), 99, "a failed remove removes nothing");
    assert!(matches!(index.add(&Keys::Str(vec!["doc-7".into()]), &data[..dim], dim), Err(IndexError::DuplicateKey(_))));
    index.add(&Keys::Str(vec!["doc-5".into()]), &data[..dim], dim).unwrap();
    assert_eq!(index.len(), 100);
    assert!(matches!(index.add(&Keys::Int(vec![1]), &data[..dim], dim), Err(IndexError::KeyType(_))));
}

#[test]
fn bad_input_is_rejected_with_reasons() {
    let dim = 4;
    let (index, _) = built(10, dim, Metric::Cos, Dtype::F32);
    let q = vectors(1, dim, 1);
    let err = index.search(&q, dim, 11, false, None, None).unwrap_err();
    assert!(err.to_string().contains("k=11"), "{err}");
    assert!(index.search(&q, dim, 0, false, None, None).is_err());
    let err = index.search(&vectors(1, 5, 1), 5, 1, false, None, None).unwrap_err();
    assert!(err.to_string().contains("dimension 5"), "{err}");
    let mut nan = q.clone();
    nan[2] = f32::NAN;
    assert!(matches!(index.search(&nan, dim, 1, false, None, None), Err(IndexError::NonFinite { row: 0, column: 2 })));
    let mut inf = vectors(3, dim, 1);
    inf[dim + 1] = f32::INFINITY;
    let ints = Index::new(IndexOptions::new(dim, Metric::Cos, Dtype::F32)).unwrap();
    assert!(matches!(ints.add(&Keys::Int(vec![1, 2, 3]), &inf, dim), Err(IndexError::NonFinite { row: 1, column: 1 })));
    assert!(
        matches!(ints.search(&q, dim, 1, false, None, None), Err(IndexError::InvalidArgument(m)) if m.contains("empty"))
    );
    assert!(Index::new(IndexOptions::new(dim, Metric::L2, Dtype::I8)).is_err());
    assert!(Metric::parse("dot").is_err());
    assert!(Dtype::parse("f64").is_err());
}

#[test]
fn save_load_and_view_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docs.lrat");
    let path = path.to_str().unwrap();
    let dim = 24;
    for dtype in [Dtype::F32, Dtype::F16, Dtype::I8] {
        let (index, _) = built(800, dim, Metric::Cos, dtype);
        index.remove(&Keys::Str(vec!["doc-0".into()])).unwrap();
        index.set_expansion_search(100).unwrap();
        index.save(path).unwrap();
        let queries = vectors(30, dim, 11);
        let before = index.search(&queries, dim, 10, false, None, None).unwrap();
        for reopened in [Index::load(path).unwrap(), Index::view(path).unwrap()] {
            assert_eq!(reopened.len(), 799);
            assert_eq!(reopened.options().dtype, dtype);
            assert_eq!(reopened.expansion_search(), 100);
            let after = reopened.search(&queries, dim, 10, false, None, None).unwrap();
            assert_eq!(str_keys(&after.keys), str_keys(&before.keys));
            assert_eq!(reopened.contains(&Keys::Str(vec!["doc-0".into(), "doc-1".into()])).unwrap(), vec![false, true]);
        }
        let view = Index::view(path).unwrap();
        assert!(
            matches!(view.add(&Keys::Str(vec!["x".into()]), &queries[..dim], dim), Err(IndexError::InvalidArgument(m)) if m.contains("read-only"))
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[test]
fn damaged_or_foreign_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.lrat");
    let path_str = path.to_str().unwrap();
    let (index, _) = built(200, 8, Metric::Cos, Dtype::F32);
    index.save(path_str).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let damaged = dir.path().join("damaged.lrat");
    let damaged_str = damaged.to_str().unwrap();
    let reason = |bytes: &[u8]| -> String {
        std::fs::write(&damaged, bytes).unwrap();
        let loaded = Index::load(damaged_str).err().expect("load must fail");
        let viewed = Index::view(damaged_str).err().expect("view must fail");
        assert!(matches!(loaded, IndexError::File { .. }), "{loaded}");
        assert!(matches!(viewed, IndexError::File { .. }), "{viewed}");
        loaded.to_string()
    };
    assert!(reason(&bytes[..bytes.len() / 2]).contains("truncated"));
    assert!(reason(&bytes[..60]).contains("truncated"));
    assert!(reason(b"\x93NUMPY\x01\x00 not an index").contains("not an lrat index"));
    assert!(reason(b"").contains("not an lrat index"));
    let mut flipped = bytes.clone();
    flipped[bytes.len() - 300] ^= 0x40;
    assert!(reason(&flipped).contains("checksum"));
    let mut newer = bytes.clone();
    newer[8] = 9;
    assert!(reason(&newer).contains("version 9"));
    let missing = Index::load(dir.path().join("absent").to_str().unwrap()).err().unwrap();
    assert!(matches!(missing, IndexError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound));
}

#[test]
fn concurrent_searches_match_serial_results() {
    let dim = 16;
    let (index, _) = built(2000, dim, Metric::L2, Dtype::F32);
    let queries = vectors(64, dim, 21);
    let serial: Vec<_> =
        queries.chunks(dim).map(|q| index.search(q, dim, 5, false, None, None).unwrap().keys).collect();
    let threads = 4 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) + 8;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (index, queries, serial) = (&index, &queries, &serial);
            s.spawn(move || {
                for round in 0..10 {
                    let i = (t * 7 + round) % 64;
                    let got = index.search(&queries[i * dim..(i + 1) * dim], dim, 5, false, None, None).unwrap();
                    assert_eq!(got.keys, serial[i]);
                    let batch = index.search(queries, dim, 5, false, None, None).unwrap();
                    assert_eq!(str_keys(&batch.keys)[i * 5..i * 5 + 5], str_keys(&serial[i])[..]);
                }
            });
        }
    });
}

#[test]
fn integer_keys_are_kept_as_given() {
    let dim = 8;
    let index = Index::new(IndexOptions::new(dim, Metric::Ip, Dtype::F16)).unwrap();
    let data = vectors(50, dim, 4);
    let keys: Vec<i64> = (0..50).map(|i| 1_000_000_007 * i).collect();
    index.add(&Keys::Int(keys.clone()), &data, dim).unwrap();
    let results = index.search(&data, dim, 1, true, None, None).unwrap();
    match results.keys {
        ResultKeys::Int(found) => {
            let hits = found.iter().zip(&keys).filter(|(a, b)| a == b).count();
            assert!(hits >= 1, "inner product: a vector need not be its own nearest, but keys must be ours");
            assert!(found.iter().all(|k| keys.contains(k)));
        }
        ResultKeys::Str(_) => panic!("expected integer keys"),
    }
    assert!(matches!(index.add(&Keys::Int(vec![-4]), &data[..dim], dim), Err(IndexError::KeyType(_))));
}

#[test]
fn cosine_distances_are_those_of_the_vectors_as_given() {
    for (dtype, tolerance) in [(Dtype::F32, 1e-5), (Dtype::F16, 2e-3), (Dtype::I8, 2e-2)] {
        cosine_distances_within(dtype, tolerance);
    }
}

fn cosine_distances_within(dtype: Dtype, tolerance: f32) {
    let dim = 20;
    let index = Index::new(IndexOptions::new(dim, Metric::Cos, dtype)).unwrap();
    // Rows of very different lengths: the index scales them to unit length itself.
    let data: Vec<f32> = vectors(300, dim, 5)
        .chunks(dim)
        .enumerate()
        .flat_map(|(i, row)| row.iter().map(move |x| x * (1 + i % 7) as f32 * 3.0))
        .collect();
    index.add(&doc_keys(300), &data, dim).unwrap();
    let query: Vec<f32> = vectors(1, dim, 8).iter().map(|x| x * 0.01).collect();
    let found = index.search(&query, dim, 5, true, None, None).unwrap();
    let cos = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        1.0 - dot / (norm(a) * norm(b))
    };
    for (key, distance) in str_keys(&found.keys).iter().zip(&found.distances) {
        let i: usize = key.as_deref().unwrap().trim_start_matches("doc-").parse().unwrap();
        let expected = cos(&query, &data[i * dim..(i + 1) * dim]);
        assert!((distance - expected).abs() < tolerance, "{dtype:?} {key:?}: {distance} vs {expected}");
    }
}

#[test]
fn header_flags_old_files_and_unknown_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.lrat");
    let (index, _) = built(300, 12, Metric::Cos, Dtype::F32);
    index.save(path.to_str().unwrap()).unwrap();
    let queries = vectors(10, 12, 3);
    let expected = index.search(&queries, 12, 5, false, None, None).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[28..32].try_into().unwrap()), 1, "cosine vectors are stored at unit length");
    let with_flags = |flags: u32| {
        let mut b = bytes.clone();
        b[28..32].copy_from_slice(&flags.to_le_bytes());
        let crc = crc32fast::hash(&b[..108]);
        b[108..112].copy_from_slice(&crc.to_le_bytes());
        let p = dir.path().join(format!("flags-{flags}.lrat"));
        std::fs::write(&p, b).unwrap();
        Index::load(p.to_str().unwrap())
    };
    // A file from before the flag: searched with the full cosine formula, same results.
    let old = with_flags(0).unwrap();
    let found = old.search(&queries, 12, 5, false, None, None).unwrap();
    assert_eq!(str_keys(&found.keys), str_keys(&expected.keys));
    let unknown = with_flags(6).err().expect("unknown flags are refused");
    assert!(unknown.to_string().contains("unknown index flags"), "{unknown}");
}

#[test]
fn quantized_indexes_keep_the_exact_neighbours() {
    let dim = 96;
    let data = vectors(2000, dim, 21);
    let queries = vectors(50, dim, 22);
    let exact = {
        let index = Index::new(IndexOptions::new(dim, Metric::Cos, Dtype::F32)).unwrap();
        index.add(&doc_keys(2000), &data, dim).unwrap();
        index.search(&queries, dim, 10, true, None, None).unwrap()
    };
    // usearch's own i8 cast (unit length x 127, truncated) finds 0.95 of them on such data.
    for (dtype, least) in [(Dtype::F16, 0.99), (Dtype::I8, 0.97)] {
        let index = Index::new(IndexOptions::new(dim, Metric::Cos, dtype)).unwrap();
        index.add(&doc_keys(2000), &data, dim).unwrap();
        let found = index.search(&queries, dim, 10, true, None, None).unwrap();
        let r = recall(&str_keys(&found.keys), &str_keys(&exact.keys), 10);
        assert!(r >= least, "{dtype:?}: exact search finds {r} of the f32 neighbours");
    }
}

#[test]
fn exact_search_breaks_ties_by_insertion_order() {
    let dim = 16;
    // 300 copies of one vector, added in one parallel batch: slots follow thread timing, results must not.
    let one = vectors(1, dim, 4);
    let data: Vec<f32> = one.iter().copied().cycle().take(300 * dim).collect();
    for dtype in [Dtype::F32, Dtype::I8] {
        let index = Index::new(IndexOptions::new(dim, Metric::Cos, dtype)).unwrap();
        index.add(&doc_keys(300), &data, dim).unwrap();
        let found = index.search(&one, dim, 5, true, None, None).unwrap();
        let expected: Vec<_> = (0..5).map(|i| Some(format!("doc-{i}"))).collect();
        assert_eq!(str_keys(&found.keys), expected, "{dtype:?}");
    }
}

#[test]
fn batch_results_do_not_depend_on_the_thread_count() {
    let dim = 16;
    let (index, _) = built(2000, dim, Metric::Cos, Dtype::F32);
    let queries = vectors(37, dim, 9);
    let pooled = index.search(&queries, dim, 5, false, None, None).unwrap();
    for threads in [1, 2, 3, 36, 37, 64] {
        let got = index.search(&queries, dim, 5, false, None, Some(threads)).unwrap();
        assert_eq!((got.keys, got.distances), (pooled.keys.clone(), pooled.distances.clone()), "{threads} threads");
    }
    let err = index.search(&queries, dim, 5, false, None, Some(0)).err().unwrap();
    assert!(matches!(err, IndexError::InvalidArgument(m) if m.contains("threads must be at least 1")));
}
