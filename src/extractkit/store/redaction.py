"""Keep secrets out of the store: every exchange is redacted by value before it is written.

The rules are :mod:`extractkit.redaction`'s (one function for the whole
library): API keys of known shapes, bearer tokens, and the values of the
environment variables that hold keys are replaced with ``[REDACTED]`` in every
text field of an exchange (input, messages, raw response, output, error,
metadata), wherever they appear. Nothing is replaced because of a field's
*name*: an output field called ``token`` is the model's answer and is kept.

When the scrub replaced something, the exchange's metadata says where
(``metadata["redacted"]``, a list of field names), so a curator can see that
an output was altered before choosing it for training.

Users add their own rules with a ``redact`` hook, ``Callable[[Exchange],
Exchange]``, which the store runs *before* this scrub, so a hook cannot put a
secret back. Both run on the writer thread, off the extraction path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from extractkit.redaction import REDACTED, redact, redact_value, secret_values
from extractkit.store.exchange import Exchange

__all__ = ["REDACTED", "REDACTED_FIELDS_KEY", "Redactor", "apply_redaction", "redact_secrets"]

Redactor = Callable[[Exchange], Exchange]
"""A user hook: return the exchange with whatever else must not be stored removed."""

REDACTED_FIELDS_KEY = "redacted"
"""The metadata key listing the fields where the scrub replaced a secret."""


def redact_secrets(exchange: Exchange, values: tuple[str, ...] | None = None) -> Exchange:
    """Return ``exchange`` with secrets replaced in every text field; itself when it holds none.

    Args:
        exchange: The exchange to clean.
        values: Secret values to replace (default: :func:`extractkit.redaction.secret_values`).
    """
    if values is None:
        values = secret_values()
    changes: dict[str, Any] = {}
    for name in ("input", "raw_response", "error"):
        old = getattr(exchange, name)
        if old is not None:
            new = redact(old, values)
            if new is not old:
                changes[name] = new
    for name in ("messages", "output", "metadata"):
        old = getattr(exchange, name)
        new = redact_value(dict(old) if name == "metadata" else old, values)
        if new is not old and new != old:
            changes[name] = new
    if not changes:
        return exchange
    fields = sorted(changes)
    metadata = dict(changes.get("metadata", exchange.metadata))
    metadata[REDACTED_FIELDS_KEY] = fields
    changes["metadata"] = metadata
    return exchange.replace(**changes)


def apply_redaction(
    batch: Sequence[Exchange], hook: Redactor | None, *, scrub: bool = True
) -> list[Exchange]:
    """Run the user's ``hook`` (if any) on each exchange, then the built-in scrub (unless off).

    Raises:
        TypeError: The hook returned something other than an Exchange.
    """
    out = list(batch)
    if hook is not None:
        for i, exchange in enumerate(out):
            cleaned = hook(exchange)
            if not isinstance(cleaned, Exchange):
                raise TypeError(f"the redact hook must return an Exchange, got {type(cleaned).__name__}")
            out[i] = cleaned
    if scrub:
        values = secret_values()  # one reading of the environment per batch
        out = [redact_secrets(exchange, values) for exchange in out]
    return out
