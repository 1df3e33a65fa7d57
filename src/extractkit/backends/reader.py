"""Reading a chat-completion body: what the API may send becomes a ChatResponse, nothing else does.

The reader accepts every shape the OpenAI API (``CreateChatCompletionResponse``
in the bundled OpenAPI schemas) and the common compatible servers legally send:
``content`` as a string, ``null`` or a list of content parts (text parts joined,
refusal parts kept as the refusal, reasoning parts skipped), function and custom
tool calls, the legacy ``function_call``, usage with or without details. Any
other shape is a :class:`~extractkit.exceptions.MalformedResponseError` whose
message and ``field`` name the JSON path at fault (``choices[0].message.content``),
so no raw ``AttributeError``/``TypeError`` escapes and no odd value is guessed at.

The field readers (:func:`content_of`, :func:`tool_calls_of`, :func:`usage_of`)
are separate so a streaming reader can apply them to chunk deltas.
"""

from __future__ import annotations

from typing import Any

from extractkit.exceptions import MalformedResponseError
from extractkit.messages import ChatDelta, ChatResponse, FinishReason, ToolCall, Usage

__all__ = ["content_of", "delta_from_json", "malformed", "response_from_json", "tool_calls_of", "usage_of"]

_FINISH: dict[str | None, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "function_call",
}

# Content-part types that carry the model's reasoning, not its answer (Mistral's "thinking",
# some vLLM builds' "reasoning"): left out of the text rather than mistaken for the answer.
_REASONING_PARTS = frozenset({"thinking", "reasoning"})


def _kind(value: Any) -> str:
    """A short description of a JSON value for messages: its JSON type and a clipped repr."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        clip = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({clip!r})"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def malformed(field: str, value: Any, expected: str, provider: str = "openai") -> MalformedResponseError:
    """The error for ``field`` holding ``value`` where the API sends ``expected``."""
    return MalformedResponseError(
        f"{provider}: malformed chat completion: {field} is {_kind(value)}, but the API sends "
        f"{expected}. The server at base_url is not speaking the chat-completions protocol as "
        "documented; check its version or its compatibility settings.",
        field=field,
    )


def _string_or_none(value: Any, field: str, provider: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise malformed(field, value, "a string or null", provider)


def content_of(value: Any, field: str, provider: str = "openai") -> tuple[str | None, str | None]:
    """``(text, refusal)`` from a message's ``content``: a string, null, or a list of content parts."""
    if value is None or isinstance(value, str):
        return value, None
    if not isinstance(value, list):
        raise malformed(field, value, "a string, null or a list of content parts", provider)
    texts: list[str] = []
    refusals: list[str] = []
    for i, part in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(part, dict):
            raise malformed(where, part, 'a content part ({"type": "text", "text": ...})', provider)
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise malformed(f"{where}.text", text, "a string", provider)
            texts.append(text)
        elif kind == "refusal":
            refusal = part.get("refusal")
            if not isinstance(refusal, str):
                raise malformed(f"{where}.refusal", refusal, "a string", provider)
            refusals.append(refusal)
        elif kind not in _REASONING_PARTS:
            raise malformed(f"{where}.type", kind, "'text' or 'refusal' in an answer", provider)
    return "".join(texts), ("".join(refusals) if refusals else None)


def _function(fn: Any, field: str, provider: str) -> tuple[str, str]:
    """``(name, arguments)`` of a function call object."""
    if not isinstance(fn, dict):
        raise malformed(field, fn, "an object with name and arguments", provider)
    name, args = fn.get("name"), fn.get("arguments")
    if not isinstance(name, str):
        raise malformed(f"{field}.name", name, "a string", provider)
    if not isinstance(args, str):
        raise malformed(f"{field}.arguments", args, "the arguments as a JSON string", provider)
    return name, args


def tool_calls_of(value: Any, field: str, provider: str = "openai") -> tuple[ToolCall, ...]:
    """The tool calls of a message (function or custom calls); ``()`` for null."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise malformed(field, value, "a list of tool calls or null", provider)
    calls: list[ToolCall] = []
    for i, call in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(call, dict):
            raise malformed(where, call, "a tool call object", provider)
        ident = _string_or_none(call.get("id"), f"{where}.id", provider) or ""
        kind = call.get("type", "function")  # some compatible servers leave the type out
        if kind == "function":
            calls.append(ToolCall(ident, *_function(call.get("function"), f"{where}.function", provider)))
        elif kind == "custom":
            custom = call.get("custom")
            if not isinstance(custom, dict):
                raise malformed(f"{where}.custom", custom, "an object with name and input", provider)
            name, text = custom.get("name"), custom.get("input")
            if not isinstance(name, str):
                raise malformed(f"{where}.custom.name", name, "a string", provider)
            if not isinstance(text, str):
                raise malformed(f"{where}.custom.input", text, "a string", provider)
            calls.append(ToolCall(ident, name, text))
        else:
            raise malformed(f"{where}.type", kind, "'function' or 'custom'", provider)
    return tuple(calls)


def _count(raw: dict[str, Any], key: str, field: str, provider: str) -> int:
    value = raw.get(key)
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise malformed(f"{field}.{key}", value, "a whole number of tokens", provider)
    return value


def usage_of(value: Any, field: str = "usage", provider: str = "openai") -> Usage | None:
    """Token usage, or ``None`` when the server reported none."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise malformed(field, value, "an object with prompt_tokens and completion_tokens", provider)
    cached = 0
    details = value.get("prompt_tokens_details")
    if details is not None:
        if not isinstance(details, dict):
            raise malformed(f"{field}.prompt_tokens_details", details, "an object", provider)
        cached = _count(details, "cached_tokens", f"{field}.prompt_tokens_details", provider)
    return Usage(
        _count(value, "prompt_tokens", field, provider),
        _count(value, "completion_tokens", field, provider),
        cached,
    )


def response_from_json(data: Any, provider: str = "openai") -> ChatResponse:
    """Reduce a ``chat.completion`` JSON body to a :class:`ChatResponse`.

    Raises:
        MalformedResponseError: A field is missing or has a shape the API never sends
            (its ``field`` names the JSON path).
    """
    if not isinstance(data, dict):
        raise malformed("body", data, "a chat.completion object", provider)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise malformed("choices", choices, "a non-empty list of choices", provider)
    choice = choices[0]
    if not isinstance(choice, dict):
        raise malformed("choices[0]", choice, "a choice object", provider)
    msg = choice.get("message")
    if not isinstance(msg, dict):
        raise malformed("choices[0].message", msg, "a message object", provider)
    text, part_refusal = content_of(msg.get("content"), "choices[0].message.content", provider)
    refusal = _string_or_none(msg.get("refusal"), "choices[0].message.refusal", provider) or part_refusal
    calls = tool_calls_of(msg.get("tool_calls"), "choices[0].message.tool_calls", provider)
    legacy = msg.get("function_call")
    if not calls and legacy is not None:  # the deprecated single function call
        calls = (ToolCall("", *_function(legacy, "choices[0].message.function_call", provider)),)
    finish = choice.get("finish_reason")
    if finish is not None and not isinstance(finish, str):
        raise malformed("choices[0].finish_reason", finish, "a string", provider)
    return ChatResponse(
        text=text,
        finish_reason=_FINISH.get(finish, "other"),
        usage=usage_of(data.get("usage"), "usage", provider),
        tool_calls=calls,
        refusal=refusal,
        model=_string_or_none(data.get("model"), "model", provider),
        response_id=_string_or_none(data.get("id"), "id", provider),
    )


def delta_from_json(data: Any, provider: str = "openai") -> ChatDelta | None:
    """Reduce one ``chat.completion.chunk`` JSON object to a :class:`ChatDelta`.

    Returns ``None`` for a chunk that carries nothing (no choices, no usage). The
    same rules as :func:`response_from_json`: a shape the API never sends is a
    :class:`~extractkit.exceptions.MalformedResponseError` naming the field.
    """
    if not isinstance(data, dict):
        raise malformed("chunk", data, "a chat.completion.chunk object", provider)
    usage = usage_of(data.get("usage"), "chunk.usage", provider)
    model = _string_or_none(data.get("model"), "chunk.model", provider)
    response_id = _string_or_none(data.get("id"), "chunk.id", provider)
    choices = data.get("choices")
    if not choices:
        if choices is not None and not isinstance(choices, list):
            raise malformed("chunk.choices", choices, "a list of choices", provider)
        return None if usage is None else ChatDelta(usage=usage, model=model, response_id=response_id)
    if not isinstance(choices, list):
        raise malformed("chunk.choices", choices, "a list of choices", provider)
    choice = choices[0]
    if not isinstance(choice, dict):
        raise malformed("chunk.choices[0]", choice, "a choice object", provider)
    delta = choice.get("delta")
    if delta is None:
        delta = {}
    if not isinstance(delta, dict):
        raise malformed("chunk.choices[0].delta", delta, "a delta object", provider)
    text, part_refusal = content_of(delta.get("content"), "chunk.choices[0].delta.content", provider)
    refusal = _string_or_none(delta.get("refusal"), "chunk.choices[0].delta.refusal", provider)
    arguments, call_id, name = "", None, None
    calls = delta.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise malformed("chunk.choices[0].delta.tool_calls", calls, "a list of tool-call deltas", provider)
    for i, call in enumerate(calls or ()):
        field = f"chunk.choices[0].delta.tool_calls[{i}]"
        if not isinstance(call, dict):
            raise malformed(field, call, "a tool-call delta object", provider)
        # The extractor forces one tool: the first call (index 0) is the answer.
        if (call.get("index") or 0) != 0:
            continue
        function = call.get("function")
        if function is None:
            function = {}
        if not isinstance(function, dict):
            raise malformed(f"{field}.function", function, "an object", provider)
        arguments = _string_or_none(function.get("arguments"), f"{field}.function.arguments", provider) or ""
        name = _string_or_none(function.get("name"), f"{field}.function.name", provider)
        call_id = _string_or_none(call.get("id"), f"{field}.id", provider)
        break
    finish = choice.get("finish_reason")
    if finish is not None and not isinstance(finish, str):
        raise malformed("chunk.choices[0].finish_reason", finish, "a string", provider)
    return ChatDelta(
        text or "",
        arguments,
        call_id,
        name,
        refusal or part_refusal or "",
        None if finish is None else _FINISH.get(finish, "other"),
        usage,
        model,
        response_id,
    )
