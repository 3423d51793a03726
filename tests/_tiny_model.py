"""A few-kilobyte BERT with its own word-piece vocabulary, for tests that need shapes, not quality."""

from __future__ import annotations

import string
from pathlib import Path

WORDS = "the a of in is was who what which where river city capital country born film actor team".split()


def make_tiny_model(path: Path, *, seed: int = 0, dropout: float = 0.0, hidden: int = 32) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    characters = list(string.ascii_lowercase + string.digits + ":?.,'-")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters, *("##" + c for c in characters), *WORDS]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # Loading a folder that holds only vocab.txt builds a word-piece tokenizer in transformers 4 and 5 alike.
    tokenizer = BertTokenizerFast.from_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(path))
    return path
