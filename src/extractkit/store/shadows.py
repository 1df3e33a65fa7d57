"""Shadow answers in the store: a second model's answer to a live input, kept beside the live one.

A shadow run (:mod:`extractkit.shadow`) records its answer as an
:class:`~extractkit.store.Exchange` whose metadata names the live exchange it
shadows (:data:`SHADOW_OF`). The SQL stores write such an exchange to their
own ``shadows`` table, never to ``records`` or ``labels``: a shadow answer
recorded as an ordinary exchange would replace the live answer as the row's
latest and enter its label history, so a candidate model's guesses could end
up in a training set. Each shadow row carries, beside the shadow's own answer,
the live exchange's id, model and output, and whether the two answers agree
(``agrees``: true, false, or NULL when the shadow failed), decided once when
the shadow finished. So ``extractkit records disagreements`` is one indexed
query over one table, correct whether or not the live row has since been
re-recorded, and the agreement counts are one ``GROUP BY``.

The routing keys travel in the exchange's metadata because that is what the
store's queue, its writer and its redaction already carry; the writer lifts
them into columns, and :class:`ShadowPair` gives them back as fields.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from extractkit.store.exchange import Exchange, _time_text, input_key
from extractkit.store.text import decode, decode_opt, encode, encode_opt

if TYPE_CHECKING:
    from extractkit.store.sqlstore import Cursor, SQLStore

__all__ = [
    "AGREES",
    "LIVE_MODEL",
    "LIVE_OUTPUT",
    "SHADOW_OF",
    "ShadowPair",
    "ShadowSummary",
    "is_shadow",
]

SHADOW_OF = "shadow_of"
"""Metadata key of a shadow exchange: the id of the live exchange it shadows."""
LIVE_MODEL = "live_model"
"""Metadata key: the live exchange's model reference."""
LIVE_OUTPUT = "live_output"
"""Metadata key: the live exchange's output (JSON data)."""
AGREES = "agrees"
"""Metadata key: ``True``/``False`` whether the answers agree; ``None`` when the shadow failed."""

_ROUTING = (SHADOW_OF, LIVE_MODEL, LIVE_OUTPUT, AGREES)

INSERT_SHADOW = """
INSERT INTO shadows (id, live_exchange_id, extractor, input, input_key, live_model, live_output, model,
    prompt_variant, messages, raw_response, output, error, agrees, prompt_tokens, completion_tokens, cost,
    latency_s, attempts, repairs, created_at, metadata)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING
"""

_COLUMNS = (
    "s.id, s.live_exchange_id, s.extractor, s.input, s.live_model, s.live_output, s.model, "
    "s.prompt_variant, s.messages, s.raw_response, s.output, s.error, s.agrees, s.prompt_tokens, "
    "s.completion_tokens, s.cost, s.latency_s, s.attempts, s.repairs, s.created_at, s.metadata, r.id"
)


def is_shadow(exchange: Exchange) -> bool:
    """Whether ``exchange`` is a shadow answer (it names the live exchange it shadows)."""
    return SHADOW_OF in exchange.metadata


@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowPair:
    """A live answer and a shadow model's answer to the same input.

    Args:
        shadow: The shadow's exchange (its model, prompt variant, answer or error, usage, latency).
        live_exchange_id: The live exchange it shadowed.
        live_model: The live exchange's model reference.
        live_output: The live answer (JSON data).
        agrees: Whether the two answers agree; ``None`` when the shadow failed (see ``shadow.error``).
        record_id: The store row of the input (for ``records show``, ``include``, ``correct``);
            ``None`` if the live exchange was never written.
    """

    shadow: Exchange
    live_exchange_id: str
    live_model: str
    live_output: Any
    agrees: bool | None
    record_id: str | None = None

    @property
    def status(self) -> str:
        """``"agree"``, ``"disagree"`` or ``"failed"`` (the shadow gave no answer)."""
        return "failed" if self.agrees is None else ("agree" if self.agrees else "disagree")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the ``records disagreements --json`` line shape)."""
        shadow = self.shadow
        return {
            "record_id": self.record_id,
            "extractor": shadow.extractor,
            "input": shadow.input,
            "status": self.status,
            "live": {
                "exchange_id": self.live_exchange_id,
                "model": self.live_model,
                "output": self.live_output,
            },
            "shadow": {
                "exchange_id": shadow.id,
                "model": shadow.model,
                "prompt_variant": shadow.prompt_variant,
                "output": shadow.output,
                "error": shadow.error,
                "raw_response": shadow.raw_response,
                "prompt_tokens": shadow.prompt_tokens,
                "completion_tokens": shadow.completion_tokens,
                "cost": shadow.cost,
                "latency_s": shadow.latency_s,
                "attempts": shadow.attempts,
                "repairs": list(shadow.repairs),
                "metadata": dict(shadow.metadata),
            },
            "created_at": _time_text(shadow.created_at),
        }


@dataclass(frozen=True, slots=True)
class ShadowSummary:
    """How often a shadow model agreed with the live one, for one extractor and pair of models.

    Args:
        extractor: The extractor's name.
        live_model: The live model reference.
        model: The shadow model reference.
        agreed: Shadow answers equal to the live answer.
        disagreed: Shadow answers that differ.
        failed: Shadow calls that gave no answer (error, timeout, cancelled at exit).
    """

    extractor: str
    live_model: str
    model: str
    agreed: int
    disagreed: int
    failed: int

    @property
    def total(self) -> int:
        """Shadow answers recorded."""
        return self.agreed + self.disagreed + self.failed

    @property
    def agreement_rate(self) -> float | None:
        """Agreed / (agreed + disagreed): the share of answered inputs where the models agree."""
        answered = self.agreed + self.disagreed
        return None if answered == 0 else self.agreed / answered

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "extractor": self.extractor,
            "live_model": self.live_model,
            "model": self.model,
            "agreed": self.agreed,
            "disagreed": self.disagreed,
            "failed": self.failed,
            "total": self.total,
            "agreement_rate": self.agreement_rate,
        }


# -- writing (on the store's writer thread) ---------------------------------------------------


def shadow_rows(
    store: SQLStore, originals: Sequence[Exchange], clean: Sequence[Exchange]
) -> list[tuple[Any, ...]]:
    """The ``shadows`` rows for shadow exchanges, before (``originals``) and after redaction (``clean``).

    The routing keys (ids, model names, the verdict) are read from the originals, so a redaction
    hook that rewrites the metadata cannot send a shadow answer into ``records``; the live output
    and everything else come from the redacted exchange.
    """
    from extractkit.store.sqlstore import dumps, dumps_messages

    rows = []
    for original, ex in zip(originals, clean, strict=True):
        meta = dict(ex.metadata)
        live_output = meta.get(LIVE_OUTPUT)
        for key in _ROUTING:
            meta.pop(key, None)
        agrees = original.metadata.get(AGREES)
        rows.append(
            (
                ex.id, str(original.metadata[SHADOW_OF]), encode(ex.extractor), encode(ex.input),
                encode(input_key(ex.input)), encode(str(original.metadata.get(LIVE_MODEL) or "")),
                None if live_output is None else encode(dumps(live_output)), encode(ex.model),
                encode(ex.prompt_variant), encode(dumps_messages(ex.messages)), encode_opt(ex.raw_response),
                None if ex.output is None else encode(dumps(ex.output)), encode_opt(ex.error),
                None if agrees is None else bool(agrees), ex.prompt_tokens, ex.completion_tokens, ex.cost,
                ex.latency_s, ex.attempts, encode(dumps(ex.repairs)), store._encode_time(ex.created_at),
                encode(dumps(meta)),
            )
        )  # fmt: skip
    return rows


# -- reading ----------------------------------------------------------------------------------


def _where(
    extractor: str | None,
    model: str | None,
    since: datetime | None,
    statuses: tuple[str, ...],
    store: SQLStore,
) -> tuple[str, builtins.list[Any]]:
    clauses: builtins.list[str] = []
    params: builtins.list[Any] = []
    if extractor is not None:
        clauses.append("s.extractor = ?")
        params.append(encode(extractor))
    if model is not None:
        clauses.append("s.model = ?")
        params.append(encode(model))
    if since is not None:
        clauses.append("s.created_at >= ?")
        params.append(store._encode_time(since))
    # Written without parameters so one text serves both dialects: SQLite's 0/1 and PostgreSQL's
    # boolean both read as truth values here, and NULL (a failed shadow) is neither.
    wanted = {"agree": "s.agrees", "disagree": "NOT s.agrees", "failed": "s.agrees IS NULL"}
    if statuses and set(statuses) != set(wanted):
        clauses.append("(" + " OR ".join(wanted[s] for s in statuses) + ")")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def read_pairs(
    store: SQLStore,
    *,
    extractor: str | None,
    model: str | None,
    since: datetime | None,
    statuses: tuple[str, ...],
    limit: int | None,
    offset: int,
) -> builtins.list[ShadowPair]:
    """Shadow pairs matching the filters, newest first."""
    from extractkit.store.sqlstore import _loads

    where, params = _where(extractor, model, since, statuses, store)
    sql = (
        f"SELECT {_COLUMNS} FROM shadows s LEFT JOIN records r "
        f"ON r.extractor = s.extractor AND r.input_key = s.input_key{where} "
        "ORDER BY s.created_at DESC, s.id DESC LIMIT ? OFFSET ?"
    )

    def read(cur: Cursor) -> builtins.list[ShadowPair]:
        cur.execute(store._sql(sql), (*params, store.no_limit if limit is None else limit, offset))
        pairs = []
        for row in cur.fetchall():
            shadow = Exchange(
                id=row[0],
                extractor=decode(row[2]),
                input=decode(row[3]),
                model=decode(row[6]),
                prompt_variant=decode(row[7]),
                messages=tuple(_loads(row[8]) or ()),
                raw_response=decode_opt(row[9]),
                output=_loads(row[10]),
                error=decode_opt(row[11]),
                prompt_tokens=row[13],
                completion_tokens=row[14],
                cost=row[15],
                latency_s=row[16],
                attempts=row[17],
                repairs=tuple(_loads(row[18]) or ()),
                created_at=store._decode_time(row[19]),
                metadata=_loads(row[20]) or {},
            )
            pairs.append(
                ShadowPair(
                    shadow=shadow,
                    live_exchange_id=row[1],
                    live_model=decode(row[4]),
                    live_output=_loads(row[5]),
                    agrees=None if row[12] is None else bool(row[12]),
                    record_id=row[21],
                )
            )
        return pairs

    return store._query(read)


def read_summaries(
    store: SQLStore, *, extractor: str | None, model: str | None, since: datetime | None
) -> builtins.list[ShadowSummary]:
    """Agreement counts per extractor, live model and shadow model."""
    where, params = _where(extractor, model, since, (), store)
    sql = (
        "SELECT s.extractor, s.live_model, s.model, "
        "SUM(CASE WHEN s.agrees THEN 1 ELSE 0 END), SUM(CASE WHEN NOT s.agrees THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN s.agrees IS NULL THEN 1 ELSE 0 END) "
        f"FROM shadows s{where} GROUP BY s.extractor, s.live_model, s.model "
        "ORDER BY s.extractor, s.live_model, s.model"
    )

    def read(cur: Cursor) -> builtins.list[ShadowSummary]:
        cur.execute(store._sql(sql), tuple(params))
        return [
            ShadowSummary(decode(e), decode(lm), decode(m), int(a or 0), int(d or 0), int(f or 0))
            for e, lm, m, a, d, f in cur.fetchall()
        ]

    return store._query(read)


def without_ids(exchange: Exchange) -> Exchange:
    """``exchange`` without the ids and verdict it carries for routing, for redaction.

    Those are ours (a 32-hex exchange id looks like a secret to the scrub); the rows take them
    from the original exchange. The live output stays: it is data, and is redacted like data.
    """
    meta = {k: v for k, v in exchange.metadata.items() if k not in (SHADOW_OF, LIVE_MODEL, AGREES)}
    return exchange.replace(metadata=meta)


def split_shadows(batch: Sequence[Exchange]) -> tuple[builtins.list[Exchange], builtins.list[Exchange]]:
    """``batch`` as (live exchanges, shadow exchanges), each in its original order."""
    live: builtins.list[Exchange] = []
    shadows: builtins.list[Exchange] = []
    for ex in batch:
        (shadows if SHADOW_OF in ex.metadata else live).append(ex)
    return live, shadows


def shadow_metadata(
    base: Mapping[str, Any], *, live_id: str, live_model: str, live_output: Any, agrees: bool | None
) -> dict[str, Any]:
    """The metadata of a shadow exchange: ``base`` plus the keys that route it to ``shadows``."""
    return {**base, SHADOW_OF: live_id, LIVE_MODEL: live_model, LIVE_OUTPUT: live_output, AGREES: agrees}
