"""lrat.Encoder: pooling, normalisation, prefixes, lengths, order, and folders other tools load."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import lrat  # noqa: E402
from _tiny_model import make_tiny_model  # noqa: E402
from lrat.encoder import Encoder, pool  # noqa: E402

TEXTS = [
    "Who was born in the capital city?",
    "a",
    "The river of the country flows through three cities and a long valley.",
    "film actor",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def minilm():
    return Encoder.load(device="cpu")


def test_import_lrat_does_not_import_torch():
    code = (
        "import sys, lrat\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "path = lrat.default_model_path()\n"
        "assert 'torch' not in sys.modules\n"
        "print(path)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    folder = done.stdout.strip()
    assert os.path.isfile(os.path.join(folder, "config.json"))
    assert os.path.isfile(os.path.join(folder, "model.safetensors"))
    assert lrat.Encoder is Encoder


def test_default_encoder_matches_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(lrat.default_model_path()), device="cpu")
    ours = minilm.encode(TEXTS, batch_size=2, show_progress_bar=False)
    theirs = reference.encode(TEXTS, convert_to_numpy=True)
    assert ours.dtype == np.float32 and ours.shape == (4, 384)
    np.testing.assert_allclose(ours, theirs, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)


def test_bf16_encoding_ranks_like_float32_and_auto_picks_what_the_device_runs_natively(minilm):
    from lrat.precision import native_bf16, resolve

    exact = minilm.encode(TEXTS, show_progress_bar=False)
    try:
        minilm.precision = "bf16"
        assert minilm.precision == "bf16"
        fast = minilm.encode(TEXTS, show_progress_bar=False)
    finally:
        minilm.precision = "fp32"
    assert fast.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, rtol=1e-5)
    assert (fast * exact).sum(axis=1).min() > 0.999
    assert np.array_equal(np.argsort(-(fast @ fast[0])), np.argsort(-(exact @ exact[0])))
    assert resolve("auto", "cpu") == ("bf16" if native_bf16("cpu") else "fp32")
    assert resolve("fp32", "cpu") == "fp32"
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        resolve("fp16", "cpu")
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, fp16, got 'int8'"):
        minilm.precision = "int8"


def test_batches_sorted_by_length_come_back_in_input_order(tiny):
    encoder = Encoder.load(tiny, device="cpu")
    together = encoder.encode(TEXTS, batch_size=3, show_progress_bar=False)
    alone = np.stack([encoder.encode(t, show_progress_bar=False) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert encoder.encode("one text", show_progress_bar=False).shape == (32,)
    assert encoder.encode([], show_progress_bar=False).shape == (0, 32)


def test_query_and_document_prefixes_and_lengths(tiny):
    plain = Encoder.load(tiny, device="cpu")
    prefixed = Encoder.load(tiny, query_prefix="query: ", document_prefix="passage: ", device="cpu")
    text = ["who was born in the city"]
    np.testing.assert_allclose(
        prefixed.encode_queries(text, show_progress_bar=False),
        plain.encode(["query: " + text[0]], show_progress_bar=False),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        prefixed.encode_documents(text, show_progress_bar=False),
        plain.encode(["passage: " + text[0]], show_progress_bar=False),
        atol=1e-6,
    )
    short = Encoder.load(tiny, max_query_length=6, max_document_length=40, device="cpu")
    # Texts that differ only beyond the query length are the same query, but different documents.
    pair = ["the river the city of the capital", "the river the city film actor team"]
    queries = short.encode_queries(pair, show_progress_bar=False)
    documents = short.encode_documents(pair, show_progress_bar=False)
    np.testing.assert_allclose(queries[0], queries[1], atol=1e-6)
    assert not np.allclose(documents[0], documents[1], atol=1e-3)


def test_pooling_of_token_states_with_either_padding_side():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    left = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])
    assert torch.equal(pool(hidden, right, "cls"), hidden[:, 0])
    assert torch.equal(pool(hidden, right, "mean"), torch.stack([hidden[0, :3].mean(0), hidden[1, :2].mean(0)]))
    assert torch.equal(pool(hidden, right, "last"), torch.stack([hidden[0, 2], hidden[1, 1]]))
    assert torch.equal(pool(hidden, left, "last"), hidden[:, 3])
    with pytest.raises(ValueError, match="pooling"):
        pool(hidden, right, "max")


def test_unnormalised_encoder_keeps_lengths(tiny):
    encoder = Encoder.load(tiny, normalize=False, pooling="cls", device="cpu")
    vectors = encoder.encode(TEXTS, show_progress_bar=False)
    assert not np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_bad_settings_and_paths_are_named(tmp_path, tiny):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Encoder.load(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="'no-such-org/no-such-model' is no local folder"):
        Encoder.load("no-such-org/no-such-model")
    with pytest.raises(FileNotFoundError, match="config.json"):
        Encoder.load(tmp_path)
    with pytest.raises(ValueError, match="pooling"):
        Encoder.load(tiny, pooling="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_query_length"):
        Encoder.load(tiny, max_query_length=0)
    with pytest.raises(ValueError, match="kind"):
        Encoder.load(tiny, device="cpu").encode(["x"], kind="passage")  # type: ignore[arg-type]


def test_saved_minilm_loads_in_transformers_sentence_transformers_and_lrat(tmp_path, minilm):
    st = pytest.importorskip("sentence_transformers")
    from transformers import AutoModel

    encoder = Encoder.load(query_prefix="query: ", max_query_length=32, max_document_length=128, device="cpu")
    out = encoder.save(tmp_path / "saved")
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "1_Pooling/config.json",
        "sentence_bert_config.json",
        "lrat_encoder.json",
    ):
        assert (out / name).is_file(), name

    original = encoder.model.state_dict()
    reloaded = AutoModel.from_pretrained(str(out)).state_dict()
    assert set(original) == set(reloaded)
    for key, value in original.items():
        assert torch.equal(value, reloaded[key]), key

    again = Encoder.load(out, device="cpu")
    assert again.settings == encoder.settings
    queries = ["who was born in the capital", "what river"]
    ours_q = again.encode_queries(queries, show_progress_bar=False)
    ours_d = again.encode_documents(TEXTS, show_progress_bar=False)

    model = st.SentenceTransformer(str(out), device="cpu")
    np.testing.assert_allclose(model.encode(TEXTS), ours_d, atol=2e-5)
    np.testing.assert_allclose(model.encode(queries, prompt_name="query"), ours_q, atol=2e-5)
    assert model.max_seq_length == 128
    settings = json.loads((out / "lrat_encoder.json").read_text())
    assert settings["query_prefix"] == "query: " and settings["max_query_length"] == 32


@pytest.mark.parametrize("pooling", ["cls", "last"])
def test_saved_pooling_is_the_one_sentence_transformers_uses(tmp_path, tiny, pooling):
    st = pytest.importorskip("sentence_transformers")
    encoder = Encoder.load(tiny, pooling=pooling, device="cpu")
    out = encoder.save(tmp_path / pooling)
    model = st.SentenceTransformer(str(out), device="cpu")
    np.testing.assert_allclose(model.encode(TEXTS), encoder.encode(TEXTS, show_progress_bar=False), atol=1e-5)
    assert Encoder.load(out).settings.pooling == pooling
