"""A dense bi-encoder over any transformers model: tokenise, run the model, pool, normalise.

The same object encodes corpora for search and is the model that `lrat.train` optimises. Its settings
(pooling, normalisation, instruction prefixes, maximum lengths) travel with the checkpoint in
`lrat_encoder.json`; the checkpoint is also written as a SentenceTransformer folder (`modules.json`,
`1_Pooling/config.json`, `sentence_bert_config.json`) so other tools load it as they are.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

Pooling = Literal["mean", "cls", "last"]
Side = Literal["query", "document"]

POOLINGS: tuple[str, ...] = ("mean", "cls", "last")
SETTINGS_FILE = "lrat_encoder.json"
# Lengths beyond this are rarely what a retriever wants even when a model accepts them.
LENGTH_CAP = 512

# SentenceTransformer pooling names (legacy boolean keys and the newer `pooling_mode`) → ours.
_ST_POOLING = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_lasttoken": "last",
    "mean": "mean",
    "cls": "cls",
    "lasttoken": "last",
}


@dataclasses.dataclass(frozen=True)
class EncoderSettings:
    """How texts become vectors, apart from the model weights."""

    pooling: Pooling = "mean"
    normalize: bool = True
    query_prefix: str = ""
    document_prefix: str = ""
    max_query_length: int = LENGTH_CAP
    max_document_length: int = LENGTH_CAP

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        for name in ("max_query_length", "max_document_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def prefix(self, side: Side) -> str:
        return self.query_prefix if side == "query" else self.document_prefix

    def max_length(self, side: Side) -> int:
        return self.max_query_length if side == "query" else self.max_document_length


def choose_device(device: str | None = None) -> str:
    """`device` when given, else CUDA when present, else Apple MPS when present, else CPU."""
    if device:
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class Encoder:
    """A transformers model with pooling, L2 normalisation, per-side prefixes and maximum lengths.

    Build one with `Encoder.load(path)`; `Encoder.load()` with no path loads the bundled
    all-MiniLM-L6-v2 (offline).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        settings: EncoderSettings,
        device: str | None = None,
        precision: str = "fp32",
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        if tokenizer.pad_token is None:
            # Decoder models often ship without a padding token; the attention mask makes its value moot.
            if tokenizer.eos_token is None:
                raise ValueError("the tokenizer has neither a padding nor an end-of-sequence token")
            tokenizer.pad_token = tokenizer.eos_token
        self.device = choose_device(device)
        self.model.to(self.device)
        self.precision = precision

    # ----------------------------------------------------------------------------------------- loading
    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        pooling: Pooling | None = None,
        normalize: bool | None = None,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        max_query_length: int | None = None,
        max_document_length: int | None = None,
        device: str | None = None,
        dtype: str | None = None,
        precision: str = "fp32",
    ) -> Encoder:
        """Load a model folder (or, with no path, the bundled all-MiniLM-L6-v2). A name such as
        `org/model` that is no local folder is looked up in the Hugging Face cache (or hub when online).

        Settings come from the keyword arguments, else the folder's `lrat_encoder.json`, else its
        SentenceTransformer configuration, else the defaults (mean pooling, normalised, no prefixes,
        lengths from the model capped at 512). `dtype` (`"float32"`, `"bfloat16"`, `"float16"`) sets
        the weights' precision; the default keeps float32. `precision` is what `encode` computes in
        (`lrat.precision`: "fp32", "bf16", "fp16" or "auto", the fastest the device runs natively);
        the default keeps float32.
        """
        import torch
        from transformers import AutoModel, AutoTokenizer

        if path is None:
            from lrat.models import default_model_path

            path = default_model_path()
        folder = _model_folder(path)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder} holds no config.json: not a transformers model folder")
        torch_dtype = torch.float32 if dtype is None else getattr(torch, dtype, None)
        if not isinstance(torch_dtype, torch.dtype):
            raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}")
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModel.from_pretrained(str(folder), dtype=torch_dtype)
        stored = _stored_settings(folder, model, tokenizer)
        overrides = {
            "pooling": pooling,
            "normalize": normalize,
            "query_prefix": query_prefix,
            "document_prefix": document_prefix,
            "max_query_length": max_query_length,
            "max_document_length": max_document_length,
        }
        settings = dataclasses.replace(stored, **{k: v for k, v in overrides.items() if v is not None})
        return cls(model, tokenizer, settings, device=device, precision=precision)

    # ------------------------------------------------------------------------------------ forward pass
    @property
    def precision(self) -> str:
        """What `encode` computes in: "fp32", "bf16", "fp16" or "auto" (see `lrat.precision`)."""
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        from lrat.precision import autocast_dtype

        self._autocast_dtype = autocast_dtype(value, self.device)
        self._precision = value

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The dtype `precision` computes in on this device (None: float32)."""
        return self._autocast_dtype

    def autocast(self) -> torch.autocast:
        """The autocast context of `precision` on this device; disabled in float32."""
        import torch

        dtype = self._autocast_dtype
        return torch.autocast(
            device_type=torch.device(self.device).type, dtype=dtype or torch.float32, enabled=dtype is not None
        )

    @property
    def dim(self) -> int:
        """Length of the vectors."""
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: Sequence[str], side: Side, *, to_device: bool = True) -> dict[str, torch.Tensor]:
        """Prefix, truncate to the side's maximum length, pad to the longest text; tensors on the
        encoder's device (or left on the CPU with `to_device=False`)."""
        prefix = self.settings.prefix(side)
        batch = self.tokenizer(
            [prefix + text for text in texts],
            padding=True,
            truncation=True,
            max_length=self.settings.max_length(side),
            return_tensors="pt",
        )
        if not to_device:
            return dict(batch)
        return {key: value.to(self.device) for key, value in batch.items()}

    def embed(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pooled (and normalised) vectors of a tokenised batch; keeps the autograd graph."""
        import torch

        inputs = {k: v for k, v in features.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        hidden = self.model(**inputs).last_hidden_state
        vectors = pool(hidden, features["attention_mask"], self.settings.pooling)
        if self.settings.normalize:
            vectors = torch.nn.functional.normalize(vectors.float(), p=2, dim=-1)
        return vectors

    def encode(
        self,
        texts: str | Sequence[str],
        *,
        kind: Side = "document",
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
    ) -> np.ndarray:
        """Vectors of `texts` as float32, shape (len(texts), dim); a single string gives shape (dim,).

        `kind` picks the prefix and maximum length (`"query"` or `"document"`). Texts are encoded in
        batches sorted by length (less padding) and returned in the input order. The progress bar
        shows on a terminal by default.
        """
        import torch
        from tqdm.auto import tqdm

        if kind not in ("query", "document"):
            raise ValueError(f"kind must be 'query' or 'document', got {kind!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is {type(text).__name__}, not str")
        order = sorted(range(len(items)), key=lambda i: len(items[i]), reverse=True)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        was_training = self.model.training
        self.model.eval()
        disable = None if show_progress_bar is None else not show_progress_bar
        try:
            with torch.inference_mode(), self.autocast():
                starts = range(0, len(items), batch_size)
                for start in tqdm(starts, desc=f"encode {kind}s", unit="batch", disable=disable):
                    idx = order[start : start + batch_size]
                    vectors = self.embed(self.tokenize([items[i] for i in idx], kind))
                    out[idx] = vectors.float().cpu().numpy()
        finally:
            self.model.train(was_training)
        return out[0] if single else out

    def encode_queries(self, texts: str | Sequence[str], **kwargs: Any) -> np.ndarray:
        return self.encode(texts, kind="query", **kwargs)

    def encode_documents(self, texts: str | Sequence[str], **kwargs: Any) -> np.ndarray:
        return self.encode(texts, kind="document", **kwargs)

    # ------------------------------------------------------------------------------------------ saving
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a folder that `transformers.AutoModel`, `sentence_transformers.SentenceTransformer` and
        `Encoder.load` all read: config, safetensors weights, tokenizer, SentenceTransformer modules and
        `lrat_encoder.json`."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(folder), safe_serialization=True)
        self.tokenizer.save_pretrained(str(folder))
        s = self.settings
        _write_json(folder / SETTINGS_FILE, {"format_version": 1, **dataclasses.asdict(s)})
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        ]
        if s.normalize:
            modules.append(
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
            )
        _write_json(folder / "modules.json", modules)
        (folder / "1_Pooling").mkdir(exist_ok=True)
        _write_json(
            folder / "1_Pooling" / "config.json",
            {
                "word_embedding_dimension": self.dim,
                "pooling_mode_cls_token": s.pooling == "cls",
                "pooling_mode_mean_tokens": s.pooling == "mean",
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
                "pooling_mode_weightedmean_tokens": False,
                "pooling_mode_lasttoken": s.pooling == "last",
                "include_prompt": True,
            },
        )
        # SentenceTransformer truncates both sides at one length; the document side is the binding one.
        _write_json(
            folder / "sentence_bert_config.json",
            {"max_seq_length": s.max_document_length, "do_lower_case": False},
        )
        _write_json(
            folder / "config_sentence_transformers.json",
            {
                "prompts": {"query": s.query_prefix, "document": s.document_prefix},
                "default_prompt_name": None,
                "similarity_fn_name": "cosine" if s.normalize else "dot",
            },
        )
        return folder


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per sequence from token states (batch, length, dim) and the attention mask."""
    import torch

    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    if pooling == "last":
        # Position of the last real token, whichever side the tokenizer pads on.
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        last = (attention_mask * positions).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")


def _model_folder(path: str | os.PathLike[str]) -> Path:
    folder = Path(path)
    if folder.is_dir():
        return folder
    name = os.fspath(path)
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", name):
        raise FileNotFoundError(f"model folder {folder} does not exist")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name))
    except Exception as exc:  # offline, unknown name, no network: all mean the same to the caller
        raise FileNotFoundError(
            f"model {name!r} is no local folder and could not be fetched from the Hugging Face cache or hub "
            f"({type(exc).__name__}); pass the path of a model folder"
        ) from exc


def _stored_settings(folder: Path, model: Any, tokenizer: Any) -> EncoderSettings:
    lrat_file = folder / SETTINGS_FILE
    if lrat_file.is_file():
        stored = _read_json(lrat_file)
        fields = {f.name for f in dataclasses.fields(EncoderSettings)}
        return EncoderSettings(**{k: v for k, v in stored.items() if k in fields})

    limits = [LENGTH_CAP]
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and model_max > 0:
        limits.append(model_max)
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    length = min(limits)
    pooling: str = "mean"
    normalize = True
    query_prefix = document_prefix = ""

    modules_file = folder / "modules.json"
    if modules_file.is_file():
        modules = _read_json(modules_file)
        types = [str(m.get("type", "")) for m in modules]
        normalize = any(t.endswith("Normalize") for t in types)
        for module in modules:
            if str(module.get("type", "")).endswith("Pooling"):
                pooling_file = folder / module.get("path", "1_Pooling") / "config.json"
                if pooling_file.is_file():
                    pooling = _st_pooling(_read_json(pooling_file), pooling_file)
        st_config = folder / "sentence_bert_config.json"
        if st_config.is_file():
            max_seq = _read_json(st_config).get("max_seq_length")
            if isinstance(max_seq, int) and max_seq > 0:
                length = max_seq
        prompts_file = folder / "config_sentence_transformers.json"
        if prompts_file.is_file():
            prompts = _read_json(prompts_file).get("prompts") or {}
            query_prefix = prompts.get("query") or ""
            document_prefix = prompts.get("document") or prompts.get("passage") or ""
    return EncoderSettings(
        pooling=pooling,  # type: ignore[arg-type]
        normalize=normalize,
        query_prefix=query_prefix,
        document_prefix=document_prefix,
        max_query_length=length,
        max_document_length=length,
    )


def _st_pooling(config: dict[str, Any], source: Path) -> str:
    mode = config.get("pooling_mode")
    if isinstance(mode, list) and len(mode) == 1:
        mode = mode[0]
    if isinstance(mode, str):
        if mode in _ST_POOLING:
            return _ST_POOLING[mode]
        raise ValueError(f"{source}: pooling {mode!r} is not supported; pass pooling='mean', 'cls' or 'last'")
    enabled = [key for key, value in config.items() if key.startswith("pooling_mode_") and value is True]
    if len(enabled) == 1 and enabled[0] in _ST_POOLING:
        return _ST_POOLING[enabled[0]]
    raise ValueError(
        f"{source}: pooling {', '.join(enabled) or 'none'} is not supported; pass pooling='mean', 'cls' or 'last'"
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON: {exc}") from exc


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
