"""Write trained LoRA weights as a GGUF adapter that llama.cpp's server loads.

Our own conversion, written from the format llama.cpp checks when it loads an
adapter (``general.type = "adapter"``, ``adapter.type = "lora"``,
``adapter.lora.alpha``; one ``<base tensor>.lora_a`` / ``.lora_b`` pair per
adapted matrix). Two facts about layouts decide correctness:

- GGUF stores a numpy array with its last axis first, so the arrays are
  written in PyTorch's ``nn.Linear`` layout: ``lora_a`` as (rank, in) and
  ``lora_b`` as (out, rank).
- For the ``llama`` architecture the GGUF query and key matrices have their
  rows permuted relative to Hugging Face's (the two halves of each rotary head
  are interleaved), and transformers undoes that when it loads a GGUF. An
  adapter trained on the loaded model must therefore permute the rows of
  ``lora_b`` for ``attn_q`` and ``attn_k`` back, or the served model computes
  a different function from the one trained. :func:`to_gguf_rows` does that;
  the tests check it against the tensors of the shipped GGUF.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractkit.exceptions import FineTuneError
from extractkit.local.models import optional_module
from extractkit.private_files import make_private_dirs

__all__ = ["BaseGGUFInfo", "LoraPair", "gguf_tensor_name", "read_base_info", "to_gguf_rows", "write_adapter"]

# Hugging Face llama module → GGUF tensor (per block).
_MODULES: dict[str, str] = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_MODULE_RE = re.compile(r"(?:^|\.)layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)$")
_SUPPORTED_ARCHS = ("llama",)


@dataclass(frozen=True, slots=True)
class BaseGGUFInfo:
    """What the adapter writer needs to know about the base model."""

    architecture: str
    head_count: int
    head_count_kv: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class LoraPair:
    """One adapted matrix in PyTorch layout: ``a`` is (rank, in), ``b`` is (out, rank)."""

    a: Any
    b: Any


def read_base_info(path: str | Path) -> BaseGGUFInfo:
    """Read the architecture and head counts from a base model GGUF."""
    try:
        reader = optional_module("gguf").GGUFReader(str(path))
    except (OSError, ValueError) as exc:
        raise FineTuneError(f"cannot read {str(path)!r} as a GGUF model: {exc}") from None

    def field(key: str) -> object:
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    if not isinstance(arch, str):
        raise FineTuneError(f"{str(path)!r} has no general.architecture; is it a GGUF model?")
    heads = field(f"{arch}.attention.head_count")
    heads_kv = field(f"{arch}.attention.head_count_kv") or heads
    if not isinstance(heads, int) or not isinstance(heads_kv, int):
        raise FineTuneError(f"{str(path)!r} has no {arch}.attention.head_count")
    name = field("general.name")
    return BaseGGUFInfo(arch, heads, heads_kv, name if isinstance(name, str) else None)


def gguf_tensor_name(module: str) -> str:
    """The GGUF weight name for a Hugging Face llama module name.

    ``model.layers.3.self_attn.q_proj`` → ``blk.3.attn_q.weight``.

    Raises:
        FineTuneError: the module is not one of the seven adaptable projections.
    """
    match = _MODULE_RE.search(module)
    if match is None:
        raise FineTuneError(
            f"cannot map module {module!r} to a GGUF tensor: LoRA targets must be the attention "
            f"and MLP projections ({', '.join(m.rsplit('.', 1)[1] for m in _MODULES)})"
        )
    return f"blk.{match.group(1)}.{_MODULES[match.group(2)]}.weight"


def to_gguf_rows(rows: Any, heads: int) -> Any:
    """Reorder the rows (output features) of a q/k matrix from Hugging Face's layout to GGUF's.

    Each head's rows are two halves (the rotary pairs); GGUF interleaves them.
    """
    out = rows.shape[0]
    if out % (2 * heads):
        raise FineTuneError(f"{out} rows do not split into {heads} rotary heads")
    shaped = rows.reshape(heads, 2, out // heads // 2, *rows.shape[1:])
    return shaped.swapaxes(1, 2).reshape(rows.shape)


def write_adapter(
    path: str | Path,
    pairs: Mapping[str, LoraPair],
    *,
    alpha: float,
    base: BaseGGUFInfo,
    name: str | None = None,
    dtype: str = "f32",
) -> Path:
    """Write LoRA pairs (keyed by Hugging Face module name) as a GGUF adapter.

    Args:
        path: The ``.gguf`` file to write (replaced if present).
        pairs: Module name (``model.layers.0.self_attn.q_proj``) → A and B in PyTorch layout.
        alpha: LoRA alpha; llama.cpp scales the update by ``alpha / rank`` like training did.
        base: The base model's architecture and head counts.
        name: ``general.name`` of the adapter.
        dtype: ``f32``, or ``f16`` for half the size (what the shipped adapter uses).

    Raises:
        FineTuneError: unsupported architecture, unknown module, or mismatched shapes.
    """
    np = optional_module("numpy")
    gguf = optional_module("gguf")

    if base.architecture not in _SUPPORTED_ARCHS:
        raise FineTuneError(
            f"GGUF adapters are written for {', '.join(_SUPPORTED_ARCHS)} models; "
            f"the base model is {base.architecture!r}"
        )
    if not pairs:
        raise FineTuneError("no LoRA weights to write")
    if dtype not in ("f32", "f16"):
        raise FineTuneError(f"adapter dtype must be 'f32' or 'f16', got {dtype!r}")
    np_dtype = np.float16 if dtype == "f16" else np.float32
    target = Path(path)
    make_private_dirs(target.parent)  # 0700: a model trained on private data
    tmp = target.with_name(target.name + ".partial")
    writer = gguf.GGUFWriter(str(tmp), base.architecture)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", float(alpha))
        if name:
            writer.add_name(name)
        for module in sorted(pairs, key=_module_order):
            pair = pairs[module]
            tensor = gguf_tensor_name(module)
            a = np.ascontiguousarray(pair.a, dtype=np.float32)
            b = np.ascontiguousarray(pair.b, dtype=np.float32)
            if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
                raise FineTuneError(
                    f"{module}: lora A {a.shape} and B {b.shape} do not pair as (rank, in) and (out, rank)"
                )
            if tensor.endswith(".attn_q.weight"):
                b = np.ascontiguousarray(to_gguf_rows(b, base.head_count))
            elif tensor.endswith(".attn_k.weight"):
                b = np.ascontiguousarray(to_gguf_rows(b, base.head_count_kv))
            writer.add_tensor(f"{tensor}.lora_a", a.astype(np_dtype))
            writer.add_tensor(f"{tensor}.lora_b", b.astype(np_dtype))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    tmp.replace(target)
    return target


def _module_order(module: str) -> tuple[int, str]:
    match = _MODULE_RE.search(module)
    return (int(match.group(1)), match.group(2)) if match else (-1, module)
