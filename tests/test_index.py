"""Behaviour of `lrat.Index`: recall, keys, restricted search, removal, files, threads, bad input."""

from __future__ import annotations

import os
import threading

import lrat
import numpy as np
import pytest
from lrat import Index, IndexFileError

DIM = 32


def random_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def doc_ids(n: int) -> list[str]:
    return [f"doc-{i}" for i in range(n)]


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return random_vectors(2000)


@pytest.fixture(scope="module")
def index(data: np.ndarray) -> Index:
    built = Index(DIM, metric="cos")
    built.add(doc_ids(len(data)), data)
    return built


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    hits = sum(len(set(a) & set(e)) for a, e in zip(approx.tolist(), exact.tolist()))
    return hits / exact.size


@pytest.mark.parametrize("metric", ["cos", "ip", "l2"])
def test_approximate_search_recalls_the_exact_neighbours(metric: str, data: np.ndarray) -> None:
    index = Index(DIM, metric=metric)
    index.add(np.arange(len(data)), data)
    queries = random_vectors(200, seed=1)
    approx, _ = index.search(queries, 10)
    exact, exact_distances = index.search(queries, 10, exact=True)
    assert recall(approx, exact) >= 0.9
    assert np.all(np.diff(exact_distances, axis=1) >= 0)


def test_exact_distances_follow_the_metric_definitions(data: np.ndarray) -> None:
    query = random_vectors(1, seed=2)[0]
    for metric, expected in [
        ("cos", 1 - data @ query / (np.linalg.norm(data, axis=1) * np.linalg.norm(query))),
        ("ip", 1 - data @ query),
        ("l2", ((data - query) ** 2).sum(axis=1)),
    ]:
        index = Index(DIM, metric=metric)
        index.add(np.arange(len(data)), data)
        keys, distances = index.search(query, 5, exact=True)
        assert keys.shape == (5,) and keys.dtype == np.int64
        np.testing.assert_array_equal(keys, np.argsort(expected, kind="stable")[:5])
        np.testing.assert_allclose(distances, np.sort(expected)[:5], rtol=1e-3, atol=1e-3)


def test_results_carry_the_string_keys(index: Index, data: np.ndarray) -> None:
    keys, distances = index.search(data[[7, 1234]], 3)
    assert keys.shape == (2, 3) and keys.dtype == object
    assert keys[0, 0] == "doc-7" and keys[1, 0] == "doc-1234"
    assert distances.dtype == np.float32
    assert abs(distances[0, 0]) < 1e-5


def test_strided_and_float64_inputs_give_the_same_results(index: Index, data: np.ndarray) -> None:
    queries = np.asfortranarray(data[:50])
    assert not queries.flags.c_contiguous
    expected = index.search(np.ascontiguousarray(queries), 5)[0]
    np.testing.assert_array_equal(index.search(queries, 5)[0], expected)
    np.testing.assert_array_equal(index.search(data[:100:2], 5)[0], index.search(data[:100][::2].copy(), 5)[0])
    np.testing.assert_array_equal(index.search(data[:50].astype(np.float64), 5)[0], expected)


def test_search_restricted_to_keys_returns_only_those(index: Index, data: np.ndarray) -> None:
    allowed = ["doc-10", "doc-20", "doc-30", "not-in-index"]
    keys, distances = index.search(data[:20], 5, allowed=allowed)
    for row_keys, row_distances in zip(keys, distances):
        assert set(row_keys[:3]) <= set(allowed[:3])
        assert list(row_keys[3:]) == [None, None]
        assert np.isinf(row_distances[3:]).all()
    assert index.search(data[20], 1, allowed=allowed)[0][0] == "doc-20"
    # A large set: every result still comes from it.
    even = [f"doc-{i}" for i in range(0, 2000, 2)]
    keys, _ = index.search(data[:30], 10, allowed=even)
    assert all(int(k.split("-")[1]) % 2 == 0 for k in keys.ravel() if k is not None)


def test_remove_contains_and_len() -> None:
    vectors = random_vectors(100)
    index = Index(DIM, metric="l2")
    index.add(doc_ids(100), vectors)
    assert len(index) == 100
    assert "doc-5" in index and "doc-500" not in index and 5 not in index
    np.testing.assert_array_equal(index.contains(["doc-1", "x"]), [True, False])
    assert index.remove("doc-5") == 1
    assert index.remove(["doc-6", "doc-7"]) == 2
    assert len(index) == 97 and "doc-5" not in index
    keys, _ = index.search(vectors[5], 97, exact=True)
    assert "doc-5" not in set(keys)
    with pytest.raises(KeyError, match="doc-5"):
        index.remove(["doc-8", "doc-5"])
    assert "doc-8" in index, "a failed remove removes nothing"
    index.add(["doc-5"], vectors[5:6])
    assert index.search(vectors[5], 1)[0][0] == "doc-5"


def test_duplicate_keys_reject_the_whole_batch() -> None:
    index = Index(DIM)
    index.add(["a", "b"], random_vectors(2))
    with pytest.raises(ValueError, match='key "b" is already in the index'):
        index.add(["c", "b"], random_vectors(2, seed=3))
    with pytest.raises(ValueError, match='key "d" appears more than once in the batch'):
        index.add(["d", "d"], random_vectors(2, seed=3))
    assert len(index) == 2 and "c" not in index and "d" not in index
    ints = Index(DIM)
    ints.add([1, 2], random_vectors(2))
    with pytest.raises(ValueError, match="key 2 is already"):
        ints.add(np.array([3, 2]), random_vectors(2, seed=4))


@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_string_keys_survive_save_load_and_view(tmp_path, dtype: str, data: np.ndarray) -> None:
    index = Index(DIM, metric="cos", dtype=dtype, connectivity=12, expansion_search=80)
    index.add(doc_ids(len(data)), data)
    index.remove("doc-3")
    path = tmp_path / "docs.lrat"
    index.save(path)
    assert os.listdir(tmp_path) == ["docs.lrat"], "no temporary file is left behind"
    queries = random_vectors(40, seed=5)
    before = index.search(queries, 10)
    for reopened in (Index.load(path), Index.view(str(path))):
        assert (reopened.dim, reopened.metric, reopened.dtype) == (DIM, "cos", dtype)
        assert (reopened.connectivity, reopened.expansion_search) == (12, 80)
        assert len(reopened) == len(data) - 1 and reopened.key_kind == "str"
        assert "doc-3" not in reopened and "doc-4" in reopened
        after = reopened.search(queries, 10)
        np.testing.assert_array_equal(after[0], before[0])
        np.testing.assert_allclose(after[1], before[1])
    view = Index.view(path)
    assert view.is_view
    with pytest.raises(ValueError, match="read-only"):
        view.add(["new"], queries[:1])
    with pytest.raises(ValueError, match="read-only"):
        view.remove("doc-4")


def test_quantized_storage_uses_less_memory_and_keeps_recall() -> None:
    # Large enough that the stored vectors, not the allocator's first arena, dominate memory; of low
    # intrinsic dimension, like embeddings (HNSW recall on isotropic 384-d noise is poor for any library).
    rng = np.random.default_rng(10)
    mixing = rng.standard_normal((16, 384)).astype(np.float32)
    points = (rng.standard_normal((20_050, 16)).astype(np.float32) @ mixing).astype(np.float32)
    points += 0.1 * rng.standard_normal(points.shape).astype(np.float32)
    data, queries = points[:20_000], points[20_000:]
    memory = {}
    exact = None
    for dtype in ["f32", "f16", "i8"]:
        index = Index(384, dtype=dtype, connectivity=8, expansion_add=32)
        index.add(np.arange(len(data)), data)
        memory[dtype] = index.memory_usage
        if exact is None:
            exact = index.search(queries, 10, exact=True)[0]
        assert recall(index.search(queries, 10)[0], exact) >= 0.8, dtype
    assert memory["f32"] > 20_000 * 384 * 4
    assert memory["f16"] < 0.8 * memory["f32"] and memory["i8"] < 0.8 * memory["f16"], memory


def test_save_replaces_an_existing_file(tmp_path) -> None:
    path = tmp_path / "i.lrat"
    first = Index(DIM)
    first.add(["a"], random_vectors(1))
    first.save(path)
    view = Index.view(path)
    second = Index(DIM)
    second.add(["b", "c"], random_vectors(2))
    second.save(path)
    assert len(Index.load(path)) == 2
    assert len(view) == 1 and view.search(random_vectors(1), 1)[0][0] == "a", "an open view keeps the old file"


def test_truncated_or_foreign_files_raise(tmp_path, index: Index) -> None:
    path = tmp_path / "i.lrat"
    index.save(path)
    good = path.read_bytes()
    bad = tmp_path / "bad.lrat"
    cases = {
        "truncated": good[: len(good) // 2],
        "truncated index file": good[:100],
        "not an lrat index": b"\x93NUMPY\x01\x00{'descr': '<f4'}",
        "checksum": good[:-500] + bytes([good[-500] ^ 1]) + good[-499:],
    }
    empty = b""
    for reason, content in [*cases.items(), ("not an lrat index", empty)]:
        bad.write_bytes(content)
        for opener in (Index.load, Index.view):
            with pytest.raises(IndexFileError, match=reason) as caught:
                opener(bad)
            assert str(bad) in str(caught.value)
    assert issubclass(IndexFileError, lrat.LratError)
    with pytest.raises(FileNotFoundError):
        Index.load(tmp_path / "absent.lrat")
    with pytest.raises(FileNotFoundError):
        Index.view(tmp_path / "absent.lrat")


def test_a_crafted_graph_with_valid_checksums_raises_instead_of_crashing(tmp_path, index: Index) -> None:
    # The first neighbour of node 0 points past the last node; the checksums are recomputed, as a forger
    # would. usearch would read outside its buffer; the structural check refuses the file first.
    import struct
    import zlib

    path = tmp_path / "i.lrat"
    index.save(path)
    b = bytearray(path.read_bytes())
    rows, row_bytes = struct.unpack_from("<II", b, 128)
    nodes = 128 + 8 + rows * row_bytes + 64 + 40 + 2 * rows
    struct.pack_into("<I", b, nodes + 8 + 2 + 4, rows + 7)
    struct.pack_into("<I", b, 104, zlib.crc32(bytes(b[128:])))
    struct.pack_into("<I", b, 108, zlib.crc32(bytes(b[:108])))
    path.write_bytes(bytes(b))
    for opener in (Index.load, Index.view):
        with pytest.raises(IndexFileError, match=f"node 0 links on level 0 to node {rows + 7}"):
            opener(path)


def test_bad_input_raises_clear_errors(index: Index) -> None:
    query = random_vectors(1)
    with pytest.raises(ValueError, match="dimension 31, but the index has dimension 32"):
        index.search(random_vectors(2, dim=31), 1)
    with pytest.raises(ValueError, match="dimension 16"):
        index.add(["x"], random_vectors(1, dim=16))
    nan = query.copy()
    nan[0, 3] = np.nan
    with pytest.raises(ValueError, match="vector 0 holds a NaN or infinite value"):
        index.search(nan, 1)
    inf = random_vectors(3)
    inf[2, 0] = np.inf
    with pytest.raises(ValueError, match="vector 2"):
        index.add(["x", "y", "z"], inf)
    with pytest.raises(TypeError, match="float array"):
        index.search(np.ones((1, DIM), dtype=np.int32), 1)
    with pytest.raises(TypeError, match="float array"):
        index.add(["x"], np.ones((1, DIM), dtype=bool))
    with pytest.raises(ValueError, match="k=2001 is larger than the number of vectors in the index \\(2000\\)"):
        index.search(query, 2001)
    with pytest.raises(ValueError, match="k must be at least 1"):
        index.search(query, 0)
    with pytest.raises(ValueError, match="got 2 keys for 1 vectors"):
        index.add(["x", "y"], query)
    with pytest.raises(TypeError, match="integer keys"):
        index.add([5], query)
    with pytest.raises(TypeError, match="all strings or all integers"):
        Index(DIM).add(["a", 1], random_vectors(2))
    with pytest.raises(TypeError, match="non-negative"):
        Index(DIM).add([-1], query)
    with pytest.raises(ValueError, match="empty index"):
        Index(DIM).search(query, 1)
    with pytest.raises(ValueError, match="unknown metric"):
        Index(DIM, metric="dot")
    with pytest.raises(ValueError, match="unknown dtype"):
        Index(DIM, dtype="f64")
    with pytest.raises(ValueError, match="cosine"):
        Index(DIM, metric="l2", dtype="i8")
    with pytest.raises(ValueError, match="3 dimensions"):
        index.search(np.zeros((1, 1, DIM), dtype=np.float32), 1)
    assert len(index) == 2000, "failed calls change nothing"


def test_many_threads_searching_get_the_serial_results(index: Index) -> None:
    queries = random_vectors(64, seed=8)
    serial = [index.search(q, 5)[0] for q in queries]
    serial_batch = index.search(queries, 5)[0]
    threads = 4 * (os.cpu_count() or 1) + 8
    failures: list[str] = []
    start = threading.Barrier(threads)

    def worker(t: int) -> None:
        start.wait()
        for round_ in range(20):
            i = (t * 7 + round_) % len(queries)
            got = index.search(queries[i], 5)[0]
            if list(got) != list(serial[i]):
                failures.append(f"thread {t} query {i}: {got} != {serial[i]}")
            if round_ % 5 == 0:
                batch = index.search(queries, 5)[0]
                if not np.array_equal(batch, serial_batch):
                    failures.append(f"thread {t}: batch differs")

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not failures, failures[:3]


def test_batch_search_takes_a_thread_count_and_gives_the_same_results(index: Index) -> None:
    queries = random_vectors(37, seed=12)
    keys, distances = index.search(queries, 5)
    for threads in (1, 2, 3, 37, 64):
        got_keys, got_distances = index.search(queries, 5, threads=threads)
        assert np.array_equal(got_keys, keys) and np.array_equal(got_distances, distances), threads
    with pytest.raises(ValueError, match="threads must be at least 1"):
        index.search(queries, 5, threads=0)
    with pytest.raises(OverflowError):
        index.search(queries, 5, threads=-1)


def test_searches_between_changes_see_every_change(tmp_path) -> None:
    # Each batch is large enough to freeze the index for search; each change thaws it.
    vectors = random_vectors(3000, seed=4)
    index = Index(DIM, metric="l2")
    index.add(np.arange(1000), vectors[:1000])
    memory_before = index.memory_usage
    exact = index.search(vectors[:1000], 5, exact=True)[0]
    assert recall(index.search(vectors[:1000], 5)[0], exact) >= 0.95
    assert index.memory_usage < 1.3 * memory_before, "a frozen index holds its vectors once"
    for start in (1000, 2000):
        index.add(np.arange(start, start + 1000), vectors[start : start + 1000])
        assert index.search(vectors[start], 1)[0][0] == start
        found = index.search(vectors[: start + 1000], 1)[0][:, 0]
        assert (found == np.arange(start + 1000)).mean() >= 0.98
    removed = np.arange(0, 3000, 2)
    index.remove(removed)
    keys = index.search(vectors, 10)[0]
    assert not np.isin(keys, removed).any()
    path = tmp_path / "after.lrat"
    index.save(path)
    for reopened in (Index.load(path), Index.view(path)):
        np.testing.assert_array_equal(reopened.search(vectors, 10)[0], keys)


def test_adding_while_other_threads_search() -> None:
    index = Index(DIM)
    index.add(np.arange(500), random_vectors(500))
    stop = threading.Event()
    errors: list[BaseException] = []

    def searcher() -> None:
        queries = random_vectors(8, seed=9)
        while not stop.is_set():
            try:
                keys, _ = index.search(queries, 3)
                assert (keys >= 0).all()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=searcher) for _ in range(6)]
    for thread in threads:
        thread.start()
    for start in range(500, 5000, 500):
        index.add(np.arange(start, start + 500), random_vectors(500, seed=start))
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    assert len(index) == 5000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_can_search_after_the_parent_did(index: Index) -> None:
    import multiprocessing

    queries = random_vectors(32, seed=12)
    expected = index.search(queries, 5)[0]  # starts the worker pool in the parent

    def child(connection) -> None:
        keys = index.search(queries, 5)[0]
        connection.send(keys.tolist())

    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=child, args=(sender,))
    process.start()
    ready = receiver.poll(60)
    process.join(5)
    if process.is_alive():
        process.kill()
    assert ready, "the forked child hung in its batch search"
    assert receiver.recv() == expected.tolist()
