"""Model capability data: the only place that branches on model names.

:func:`profile_for` answers, for a model reference, how to ask it for
structured output and which prompt it expects:

- OpenAI fine-tuned ids (``ft:...``) get the **minimal** prompt they were
  trained with and ``bare`` output (the model learned the format).
- Current OpenAI base models get the **full** prompt and strict ``json_schema``.
- Older OpenAI chat models get ``json_object``.
- Local models (``local:...``, served by llama.cpp) get ``json_schema``: the
  server turns the schema into a grammar, so every answer parses and has the
  schema's shape; fine-tunes (``local:ft-...``) keep the minimal prompt. The
  same holds for any server whose backend table says ``structured_outputs = true``.
- Anything else (OpenAI-compatible servers: vLLM, Ollama, llama.cpp, Groq)
  gets the full prompt and ``prompted`` JSON, which every server accepts;
  configuration can switch it to ``json_schema`` where the server supports it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache

from extractkit.config import ModelRef

__all__ = ["ModelProfile", "OutputMode", "PromptVariant", "profile_for"]


class OutputMode(StrEnum):
    """How the model is asked to shape its answer."""

    JSON_SCHEMA = "json_schema"
    """Structured outputs: ``response_format`` with a strict JSON Schema."""
    JSON_OBJECT = "json_object"
    """JSON mode: any JSON object; the schema goes in the prompt."""
    TOOLS = "tools"
    """A forced function call whose parameters are the schema."""
    PROMPTED = "prompted"
    """Plain text; the prompt asks for JSON matching the schema."""
    BARE = "bare"
    """Plain text from a model fine-tuned to answer in the format."""


class PromptVariant(StrEnum):
    """Which system prompt an extractor sends."""

    MINIMAL = "minimal"
    """The short prompt a fine-tuned model was trained with."""
    FULL = "full"
    """Rules, schema and examples, for base (and teacher) models."""


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What extractkit knows about how to talk to one model.

    Attributes:
        output_mode: How structured output is requested.
        prompt_variant: Minimal or full system prompt.
        supports_logit_bias: Whether ``logit_bias`` is honoured (one-token routing).
        context_window: Prompt + completion token limit, when known.
    """

    output_mode: OutputMode
    prompt_variant: PromptVariant
    supports_logit_bias: bool = False
    context_window: int | None = None

    @lru_cache(maxsize=256)  # noqa: B019 (profiles are few, immutable and long-lived)
    def with_overrides(
        self, *, output_mode: str | None = None, prompt_variant: str | None = None
    ) -> ModelProfile:
        """A copy with the given fields replaced (``None`` keeps the current value)."""
        return replace(
            self,
            output_mode=OutputMode(output_mode) if output_mode else self.output_mode,
            prompt_variant=PromptVariant(prompt_variant) if prompt_variant else self.prompt_variant,
        )


# (prefix, context window); longest prefix wins. Strict structured outputs need these models.
_OPENAI_STRUCTURED: tuple[tuple[str, int], ...] = (
    ("gpt-4o-mini", 128_000),
    ("gpt-4o", 128_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-5", 400_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4", 200_000),
)
_OPENAI_JSON_MODE: tuple[tuple[str, int], ...] = (
    ("gpt-4-turbo", 128_000),
    ("gpt-3.5-turbo", 16_385),
    ("gpt-4", 8_192),
)


def _match(model: str, table: tuple[tuple[str, int], ...]) -> int | None:
    best: tuple[int, int] | None = None
    for prefix, window in table:
        if model.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), window)
    return None if best is None else best[1]


def _base_of_fine_tune(model: str) -> str:
    # "ft:gpt-4o-mini-2024-07-18:org::abc" -> "gpt-4o-mini-2024-07-18"
    return model.split(":", 2)[1] if model.startswith("ft:") and model.count(":") >= 1 else model


def profile_for(
    ref: ModelRef | str, *, backend_type: str | None = None, structured_outputs: bool | None = None
) -> ModelProfile:
    """The capability profile for a model reference.

    Args:
        ref: The model reference (``provider:model``).
        backend_type: The implementation serving the provider (``BackendConfig.type``);
            defaults to the provider name.
        structured_outputs: ``BackendConfig.structured_outputs``: whether the server
            constrains decoding to a JSON schema. ``None`` (the default) assumes so
            only for ``type = "local"``, the managed llama.cpp server: a ``local``
            provider pointed at some OpenAI-compatible server (``type = "openai"``)
            gets the compatible-server profile unless its table says
            ``structured_outputs = true`` (``extractkit serve`` prints that line).
    """
    parsed = ModelRef.parse(ref)
    return _profile_for(parsed, backend_type or parsed.provider, structured_outputs)


@lru_cache(maxsize=1024)
def _profile_for(ref: ModelRef, backend_type: str, structured_outputs: bool | None) -> ModelProfile:
    model = ref.model
    if structured_outputs is None:
        structured_outputs = backend_type == "local"
    if structured_outputs and ref.provider not in ("openai", "azure"):
        # llama.cpp constrains decoding to the schema (response_format json_schema -> grammar).
        variant = PromptVariant.MINIMAL if ref.is_fine_tuned else PromptVariant.FULL
        return ModelProfile(OutputMode.JSON_SCHEMA, variant, supports_logit_bias=False)
    if ref.is_fine_tuned:
        window = _match(_base_of_fine_tune(model), _OPENAI_STRUCTURED + _OPENAI_JSON_MODE)
        return ModelProfile(
            OutputMode.BARE,
            PromptVariant.MINIMAL,
            supports_logit_bias=ref.provider in ("openai", "azure"),
            context_window=window,
        )
    if ref.provider in ("openai", "azure"):
        window = _match(model, _OPENAI_STRUCTURED)
        if window is not None:
            # o-series reasoning models do not accept logit_bias.
            bias = not model.startswith(("o1", "o3", "o4", "gpt-5"))
            return ModelProfile(OutputMode.JSON_SCHEMA, PromptVariant.FULL, bias, window)
        window = _match(model, _OPENAI_JSON_MODE)
        if window is not None:
            return ModelProfile(OutputMode.JSON_OBJECT, PromptVariant.FULL, True, window)
    return ModelProfile(OutputMode.PROMPTED, PromptVariant.FULL, supports_logit_bias=False)
