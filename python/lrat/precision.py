"""Numeric precision of the forward and backward passes: float32, or autocast to bfloat16 or float16.

"auto" picks the fastest precision the device runs natively: bf16 on a CUDA GPU that has it (fp16
otherwise), bf16 on a CPU with native bfloat16 instructions (AVX512-BF16 or AMX, through oneDNN), and
float32 elsewhere. Autocast keeps the weights, the normalisation and the loss in float32."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def native_bf16(device: str) -> bool:
    """Whether `device` computes in bfloat16 natively (not emulated through float32)."""
    import torch

    kind = torch.device(device).type
    if kind == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if kind == "cpu":
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve(precision: str, device: str) -> str:
    """The concrete precision ("fp32", "bf16" or "fp16") that `precision` means on `device`."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    on_cuda = torch.device(device).type == "cuda"
    if precision == "auto":
        if native_bf16(device):
            return "bf16"
        return "fp16" if on_cuda else "fp32"
    if precision == "fp16" and not on_cuda:
        raise ValueError("fp16 needs a CUDA device; use bf16 or fp32 on this machine")
    return precision


def autocast_dtype(precision: str, device: str) -> torch.dtype | None:
    """The autocast dtype of `precision` on `device`, or None for float32."""
    import torch

    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[resolve(precision, device)]
