"""LoRA training of a local GGUF model on chat JSONL, with the loss on assistant tokens only.

The base GGUF is loaded with transformers (dequantized to float32, so the
weights trained against are exactly the ones llama.cpp serves), small
low-rank matrices are added to the attention and MLP projections, and only
those are trained. The result is written as a GGUF adapter
(:mod:`extractkit.local.gguf_adapter`) that the local server applies on top of
the unchanged base file.

Each conversation is rendered with the model's own chat template; the tokens
of every assistant turn (its end-of-turn marker included, so the model learns
to stop) carry the loss, system and user tokens do not. A run is seeded (the
LoRA initialisation, the example order) and reports progress per step; it runs
on a GPU when torch sees one, else on the CPU.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractkit.exceptions import FineTuneError
from extractkit.local.gguf_adapter import LoraPair, read_base_info, write_adapter
from extractkit.local.models import optional_module

__all__ = ["TrainingConfig", "TrainingProgress", "TrainingResult", "encode_conversation", "train_lora"]

Conversation = Sequence[dict[str, str]]

DEFAULT_TARGETS = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """Hyperparameters of one LoRA run.

    Attributes:
        epochs: Passes over the training set.
        batch_size: Conversations per optimizer step.
        learning_rate: Peak AdamW learning rate (linear warm-up, then linear decay).
        rank: LoRA rank.
        alpha: LoRA alpha; the update is scaled by ``alpha / rank``.
        dropout: Dropout on the LoRA input (0 keeps runs bit-for-bit repeatable on CPU).
        max_length: Tokens per conversation; longer ones are cut (and reported).
        seed: Seeds the LoRA initialisation and the example order.
        max_steps: Stop after this many optimizer steps (quick runs, tests).
        targets: The projections to adapt (Hugging Face llama module suffixes).
        first_layer: Adapt only the layers from this index up; the backward pass then stops
            there, which saves its cost for the layers below (0: every layer).
    """

    epochs: int = 3
    batch_size: int = 4
    learning_rate: float = 1e-3
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    max_length: int = 512
    seed: int = 0
    max_steps: int | None = None
    targets: tuple[str, ...] = DEFAULT_TARGETS
    first_layer: int = 0

    def total_steps(self, examples: int) -> int:
        """Optimizer steps for ``examples`` conversations."""
        steps = self.epochs * math.ceil(examples / self.batch_size)
        return min(steps, self.max_steps) if self.max_steps is not None else steps


@dataclass(frozen=True, slots=True)
class TrainingProgress:
    """One optimizer step's report."""

    step: int
    total_steps: int
    epoch: int
    loss: float
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class TrainingResult:
    """What a finished run produced.

    Attributes:
        adapter_path: The GGUF adapter written.
        steps: Optimizer steps taken.
        losses: The loss of every step, in order.
        trained_tokens: Tokens that carried the loss (assistant tokens), summed over epochs.
        truncated: Conversations cut to ``max_length``.
        device: Where it ran (``cpu``, ``cuda``).
        seconds: Wall time, model loading included.
    """

    adapter_path: Path
    steps: int
    losses: list[float] = field(default_factory=list)
    trained_tokens: int = 0
    truncated: int = 0
    device: str = "cpu"
    seconds: float = 0.0


class Cancelled(FineTuneError):
    """Raised inside a run when its ``should_stop`` callback answers True."""


def encode_conversation(
    tokenizer: Any, messages: Conversation, max_length: int
) -> tuple[list[int], list[int]]:
    """Token ids and labels for one conversation: labels are -100 except on assistant turns.

    Each turn's text is the difference between the chat template rendered up to
    and including it and rendered up to before it, so the rendering is the
    model's own; assistant turns are tokenized on their own, as the server
    will see them after the prompt.
    """
    ids: list[int] = []
    labels: list[int] = []
    rendered = ""
    for i, message in enumerate(messages):
        upto = list(messages[: i + 1])
        if message["role"] == "assistant":
            prompt = tokenizer.apply_chat_template(
                list(messages[:i]), tokenize=False, add_generation_prompt=True
            )
            full = tokenizer.apply_chat_template(upto, tokenize=False)
            if not prompt.startswith(rendered) or not full.startswith(prompt):
                raise FineTuneError("the model's chat template does not render turns as a prefix sequence")
            head = tokenizer(prompt[len(rendered) :], add_special_tokens=False)["input_ids"]
            body = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
            ids += head + body
            labels += [-100] * len(head) + list(body)
            rendered = full
        else:
            text = tokenizer.apply_chat_template(upto, tokenize=False)
            if not text.startswith(rendered):
                raise FineTuneError("the model's chat template does not render turns as a prefix sequence")
            piece = tokenizer(text[len(rendered) :], add_special_tokens=False)["input_ids"]
            ids += piece
            labels += [-100] * len(piece)
            rendered = text
    return ids[:max_length], labels[:max_length]


def _lora_layer(base: Any, rank: int, alpha: float, dropout: float) -> Any:
    torch = optional_module("torch")
    nn = torch.nn
    module: Any = nn.Module  # torch is typed Any here, so type checks never depend on it

    class LoraLinear(module):  # type: ignore[misc]
        """``base(x) + scale * B(A(dropout(x)))`` with ``base`` frozen and B starting at zero."""

        def __init__(self) -> None:
            super().__init__()
            self.base = base
            self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
            self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
            nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
            self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
            self.scale = alpha / rank

        def forward(self, x: Any) -> Any:
            update = (self.drop(x) @ self.lora_a.t()) @ self.lora_b.t()
            return self.base(x) + update * self.scale

    return LoraLinear()


def _attach_lora(model: Any, config: TrainingConfig) -> dict[str, Any]:
    """Freeze the model and wrap each target projection; returns module name → LoRA layer."""
    for param in model.parameters():
        param.requires_grad_(False)
    layers: dict[str, Any] = {}
    for index, block in enumerate(model.model.layers):
        if index < config.first_layer:
            continue
        for target in config.targets:
            parent_name, _, attr = target.rpartition(".")
            parent = block.get_submodule(parent_name)
            wrapped = _lora_layer(getattr(parent, attr), config.rank, config.alpha, config.dropout)
            setattr(parent, attr, wrapped)
            layers[f"model.layers.{index}.{target}"] = wrapped
    return layers


def _load(base_gguf: Path, device: str) -> tuple[Any, Any]:
    torch = optional_module("torch")
    transformers = optional_module("transformers")
    transformers.utils.logging.set_verbosity_error()
    folder, name = str(base_gguf.parent), base_gguf.name
    # transformers draws a tqdm bar while it dequantizes the GGUF, whatever its own settings say;
    # progress is ours to report (per training step), so that bar goes to a sink.
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=torch.float32, local_files_only=True
        )
    # The weights are dequantized already; the GGUF quantizer marker only gets in the way.
    model.hf_quantizer = None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model.to(device)


def _batches(
    encoded: list[tuple[list[int], list[int]]], config: TrainingConfig, pad_id: int, device: str
) -> list[tuple[int, Any, Any, Any]]:
    """The epoch-by-epoch batches in seeded order: (epoch, ids, attention mask, labels)."""
    torch = optional_module("torch")

    rng = random.Random(config.seed)
    out: list[tuple[int, Any, Any, Any]] = []
    for epoch in range(config.epochs):
        order = list(range(len(encoded)))
        rng.shuffle(order)
        for start in range(0, len(order), config.batch_size):
            chunk = [encoded[i] for i in order[start : start + config.batch_size]]
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            labels = torch.full((len(chunk), width), -100, dtype=torch.long)
            for row, (tok, lab) in enumerate(chunk):
                ids[row, : len(tok)] = torch.tensor(tok)
                mask[row, : len(tok)] = 1
                labels[row, : len(lab)] = torch.tensor(lab)
            out.append((epoch, ids.to(device), mask.to(device), labels.to(device)))
    return out[: config.max_steps] if config.max_steps is not None else out


def _assistant_loss(model: Any, ids: Any, mask: Any, labels: Any) -> Any:
    """Next-token cross-entropy on the labelled (assistant) positions only.

    The same loss as the model's own ``labels=`` path, but the vocabulary projection
    runs only where a label is: most tokens are prompt, and that projection is a
    fifth of a small model's compute.
    """
    torch = optional_module("torch")

    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
    target = labels[:, 1:]
    keep = target != -100
    logits = model.lm_head(hidden[keep])
    return torch.nn.functional.cross_entropy(logits.float(), target[keep])


def pick_device(device: str | None = None) -> str:
    """``device`` when given, else ``cuda`` when torch sees a GPU, else ``cpu``."""
    if device:
        return device
    torch = optional_module("torch")

    return "cuda" if torch.cuda.is_available() else "cpu"


def train_lora(
    base_gguf: str | Path,
    conversations: Sequence[Conversation],
    adapter_path: str | Path,
    config: TrainingConfig | None = None,
    *,
    device: str | None = None,
    on_progress: Callable[[TrainingProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    name: str | None = None,
    adapter_dtype: str = "f32",
) -> TrainingResult:
    """Train a LoRA adapter for ``base_gguf`` on chat conversations and write it as GGUF.

    Args:
        base_gguf: The base model file (llama architecture).
        conversations: Message lists (``{"role", "content"}``), each with an assistant turn.
        adapter_path: Where to write the adapter ``.gguf``.
        config: Hyperparameters (defaults: :class:`TrainingConfig`).
        device: ``cpu``, ``cuda``...; default: a GPU when present.
        on_progress: Called after every optimizer step.
        should_stop: Polled before every step; True cancels the run (raises :class:`Cancelled`).
        name: The adapter's ``general.name``.
        adapter_dtype: ``f32`` or ``f16`` (half the file size) for the adapter's tensors.

    Raises:
        FineTuneError: no trainable tokens, an unsupported model, or cancellation.
    """
    torch = optional_module("torch")

    config = config or TrainingConfig()
    started = time.perf_counter()
    base = Path(base_gguf)
    info = read_base_info(base)  # fails early, before the slow load, on a wrong architecture
    if info.architecture != "llama":
        raise FineTuneError(f"local fine-tuning supports llama-architecture GGUFs, not {info.architecture!r}")
    device = pick_device(device)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    tokenizer, model = _load(base, device)
    encoded = []
    truncated = 0
    for messages in conversations:
        ids, labels = encode_conversation(tokenizer, messages, config.max_length)
        full_len = len(encode_conversation(tokenizer, messages, 1 << 30)[0])
        truncated += full_len > config.max_length
        if any(label != -100 for label in labels):
            encoded.append((ids, labels))
    if not encoded:
        raise FineTuneError("no assistant tokens to train on (every example lost them to max_length?)")

    torch.manual_seed(config.seed)  # the LoRA initialisation, independent of what loading consumed
    layers = _attach_lora(model, config)
    params = [p for layer in layers.values() for p in (layer.lora_a, layer.lora_b)]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    batches = _batches(encoded, config, int(tokenizer.pad_token_id), device)
    total = len(batches)
    warmup = max(1, total // 10)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.05, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    model.train()
    losses: list[float] = []
    trained_tokens = 0
    for step, (epoch, ids, mask, labels) in enumerate(batches):
        if should_stop is not None and should_stop():
            raise Cancelled(f"training cancelled at step {step} of {total}")
        loss = _assistant_loss(model, ids, mask, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        trained_tokens += int((labels != -100).sum())
        if on_progress is not None:
            on_progress(
                TrainingProgress(step + 1, total, epoch + 1, losses[-1], time.perf_counter() - started)
            )

    pairs = {
        module: LoraPair(layer.lora_a.detach().cpu().numpy(), layer.lora_b.detach().cpu().numpy())
        for module, layer in layers.items()
    }
    written = write_adapter(
        adapter_path, pairs, alpha=config.alpha, base=info, name=name, dtype=adapter_dtype
    )
    return TrainingResult(
        adapter_path=written,
        steps=len(losses),
        losses=losses,
        trained_tokens=trained_tokens,
        truncated=truncated,
        device=device,
        seconds=time.perf_counter() - started,
    )
