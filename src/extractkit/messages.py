"""Value types that cross the backend seam: messages, requests, responses, usage.

A backend translates :class:`ChatRequest` into its wire format and the answer
back into :class:`ChatResponse`; nothing else in extractkit knows a wire format.
All types are immutable so requests can be logged, replayed and compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ChatDelta",
    "ChatRequest",
    "ChatResponse",
    "FinishReason",
    "Message",
    "ResponseFormat",
    "Role",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call", "other"]
"""Why the model stopped. Unknown provider values map to ``"other"``."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model asked for; ``arguments`` is the raw JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message.

    Args:
        role: ``system``, ``user``, ``assistant`` or ``tool``.
        content: The text; ``None`` for an assistant turn that only calls tools.
        tool_calls: Tool calls made by an assistant turn.
        tool_call_id: For ``tool`` messages, the call being answered.
    """

    role: Role
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the OpenAI chat-format dict (the training-file format too)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """How the model is asked to shape its answer.

    ``json_schema`` carries a schema (strict when ``strict``); ``json_object``
    asks for any JSON object; ``text`` asks for nothing.
    """

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: Mapping[str, Any] | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may (or must, via ``ChatRequest.tool_choice``) call."""

    name: str
    parameters: Mapping[str, Any]
    description: str | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """Everything a backend needs for one completion.

    ``model`` is the provider's model name (the part after ``provider:``).
    ``logit_bias`` maps token ids to biases in [-100, 100]. ``timeout`` is in
    seconds for this request, from connect to the last byte of the answer;
    ``None`` leaves the backend default.
    """

    model: str
    messages: tuple[Message, ...]
    response_format: ResponseFormat | None = None
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    logit_bias: Mapping[int, float] | None = None
    seed: int | None = None
    timeout: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts; add two with ``+`` to sum attempts."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_prompt_tokens + other.cached_prompt_tokens,
        )


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """A backend's answer, reduced to what extraction needs.

    Args:
        text: The assistant's text content (``None`` when it only called tools).
        finish_reason: Why generation stopped.
        usage: Token usage the provider reported, or ``None`` if it reported none.
        tool_calls: Function calls the model made.
        refusal: The refusal text, when the model refused (OpenAI structured outputs).
        model: The model name the provider says answered.
        response_id: The provider's id for this completion.
    """

    text: str | None
    finish_reason: FinishReason = "stop"
    usage: Usage | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None
    model: str | None = None
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChatDelta:
    """One piece of a streamed answer (a ``chat.completion.chunk``), reduced to what extraction needs.

    Args:
        text: The next piece of the assistant's text.
        tool_arguments: The next piece of the first tool call's arguments (JSON text).
        tool_call_id: The tool call's id, on the delta that opens it.
        tool_name: The called function's name, on the delta that opens it.
        refusal: The next piece of a refusal.
        finish_reason: Set on the delta that ends the answer.
        usage: Token usage, on the last delta when the provider reports it.
        model: The model name the provider says answers.
        response_id: The provider's id for this completion.
    """

    text: str = ""
    tool_arguments: str = ""
    tool_call_id: str | None = None
    tool_name: str | None = None
    refusal: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    model: str | None = None
    response_id: str | None = None
