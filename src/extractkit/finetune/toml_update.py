"""Point an extractor at a new model in ``extractkit.toml``, editing the file in place.

:mod:`tomllib` only reads, and rewriting the document from a parsed mapping
would drop every comment and the user's layout, so the edit goes through
`tomlkit <https://tomlkit.readthedocs.io>`_, which keeps both. It sets ``model``
in the extractor's table, whatever its layout (an ``[extractors.NAME]`` table,
an inline table, dotted keys), sets ``prompt_variant`` to ``minimal`` where the
table forces another variant, and, where a comment line fits (a table with its
own header, or a new one), notes the previous model above the ``model`` line
for an easy way back.

Nothing is written unless the result, parsed again with :mod:`tomllib`, equals
the old document with exactly those keys changed, and is a valid extractkit
configuration. The file is replaced atomically (a temporary file in the same
folder, fsync, rename), so a crash leaves the old file or the new one, never
half of each.
"""

from __future__ import annotations

import copy
import os
import tempfile
import tomllib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Comment, InlineTable, Table, Whitespace

from extractkit.config import CONFIG_FILENAME, ModelRef, Settings
from extractkit.exceptions import ConfigError

__all__ = ["ConfigUpdate", "config_path", "update_extractor_model"]

_NOTE_PREFIX = "extractkit finetune:"


@dataclass(frozen=True, slots=True)
class ConfigUpdate:
    """What :func:`update_extractor_model` changed.

    Attributes:
        path: The configuration file written.
        extractor: The extractor's config name.
        model: The model reference now configured.
        previous_model: The model configured before, if any.
        notes: Things the user should know (an environment variable that overrides the file, ...).
    """

    path: Path
    extractor: str
    model: str
    previous_model: str | None
    notes: tuple[str, ...] = field(default=())


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The file to update: ``path``, else ``$EXTRACTKIT_CONFIG``, else the discovered
    ``extractkit.toml`` (current folder or a parent), else ``./extractkit.toml`` (created)."""
    if path is not None:
        return Path(path)
    from extractkit.config import _discover  # the same discovery Settings.load() uses

    return _discover(os.environ) or Path.cwd() / CONFIG_FILENAME


def _is_note_text(text: str) -> bool:
    return text.strip().lstrip("#").strip().startswith(_NOTE_PREFIX)


def _is_note(item: Any) -> bool:
    return isinstance(item, Comment) and _is_note_text(item.as_string())


def _with_note(table: Table, model: str, note: str) -> Table:
    """A copy of a header table (same items, comments and header) with the note above ``model``."""
    # tomlkit has no public "insert before": build the table again from its items, in order.
    new = tomlkit.table()
    new.trivia.indent = table.trivia.indent
    new.trivia.comment_ws = table.trivia.comment_ws
    new.trivia.comment = table.trivia.comment
    new.trivia.trail = table.trivia.trail
    items = table.value.body
    if not any(key is not None and key.key == "model" for key, _ in items):
        new.add(tomlkit.comment(note))
        new.add("model", model)
    for key, item in items:
        if key is None:
            if isinstance(item, Comment | Whitespace) and not _is_note(item):
                new.add(item)
            continue
        if key.key == "model":
            new.add(tomlkit.comment(note))
        new.add(key, item)
    return new


def _edit(doc: tomlkit.TOMLDocument, name: str, model: str, note: str) -> None:
    extractors = doc.get("extractors")
    if extractors is None:
        extractors = tomlkit.table(is_super_table=True)
        doc.add("extractors", extractors)
    if not isinstance(extractors, MutableMapping):
        return  # not a table: the check after the edit refuses the file
    table = extractors.get(name)
    if table is None:
        fresh = tomlkit.table()
        fresh.add(tomlkit.comment(note))
        fresh.add("model", model)
        extractors[name] = fresh
        return
    if type(table) is Table and not table.is_super_table():
        # A table with its own [extractors.NAME] header: room for a comment line.
        table = extractors[name] = _with_note(table, model, note)
    elif isinstance(table, InlineTable) and (not table.trivia.comment or _is_note_text(table.trivia.comment)):
        table.comment(note)  # no line of its own inside an inline table: the note ends its line
    if not isinstance(table, MutableMapping):
        return
    table["model"] = model
    if "prompt_variant" in table:
        table["prompt_variant"] = "minimal"


def _expected(data: Mapping[str, Any], name: str, model: str) -> dict[str, Any]:
    want = copy.deepcopy(dict(data))
    table = want.setdefault("extractors", {}).setdefault(name, {})
    table["model"] = model
    if "prompt_variant" in table:
        table["prompt_variant"] = "minimal"
    return want


def _atomic_write(path: Path, data: bytes, expect: bytes | None) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if expect is not None:
            os.chmod(tmp, path.stat().st_mode & 0o7777)
            # Someone else wrote the file since we read it: do not overwrite their change.
            if path.read_bytes() != expect:
                raise ConfigError(
                    f"{path} changed while it was being updated; run the command again", source=str(path)
                )
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _toml_key(name: str) -> str:
    return tomlkit.key(name).as_string()


def update_extractor_model(
    extractor: str,
    model: str,
    *,
    path: str | os.PathLike[str] | None = None,
    reason: str | None = None,
) -> ConfigUpdate:
    """Set ``[extractors.NAME] model`` in the config file, keeping everything else as it was.

    Where the table sets ``prompt_variant``, it becomes ``minimal`` (the prompt a
    fine-tuned model was trained with); where it does not, the ``ft:`` model's
    profile already picks the minimal prompt. A comment above the ``model`` line
    records the previous model (in a table with its own header; an inline table
    gets it as its line's comment when it has none).

    Args:
        extractor: The extractor's config name (``Extractor.name``, e.g. ``location``).
        model: The model reference to configure (``openai:ft:gpt-4o-mini-...``).
        path: The file; default :func:`config_path` (created when there is none).
        reason: Appended to the comment, e.g. ``fine-tuning job ftjob-abc``.

    Raises:
        ConfigError: The file is not valid TOML or configuration, or the edit could not be
            made safely (the message gives the lines to write by hand).
    """
    if not isinstance(extractor, str) or not extractor.strip():
        raise ConfigError(f"extractor name must be a non-empty string, got {extractor!r}")
    ref = str(ModelRef.parse(model))
    target = config_path(path)
    try:
        original = target.read_bytes()
    except FileNotFoundError:
        original = None
    raw = original.decode("utf-8-sig") if original is not None else ""
    crlf = "\r\n" in raw
    text = raw.replace("\r\n", "\n")
    try:
        data = tomllib.loads(text)
        doc = tomlkit.parse(text)
    except (tomllib.TOMLDecodeError, tomlkit.exceptions.ParseError) as exc:
        raise ConfigError(f"{target} is not valid TOML ({exc}); fix it first", source=str(target)) from None
    by_hand = f"[extractors.{_toml_key(extractor)}]\nmodel = {tomlkit.string(ref).as_string()}"
    extractors = data.get("extractors")
    if extractors is not None and not isinstance(extractors, dict):
        raise ConfigError(
            f"{target}: 'extractors' must be a table; fix it first", key="extractors", source=str(target)
        )
    table = extractors.get(extractor) if isinstance(extractors, dict) else None
    previous = table.get("model") if isinstance(table, dict) else None
    shown = tomlkit.string(previous).as_string() if isinstance(previous, str) else "unset"
    note = f"{_NOTE_PREFIX} was {shown}" + (f" before {reason}" if reason else "")
    try:
        _edit(doc, extractor, ref, note)
        new_text = doc.as_string()
        new_data: dict[str, Any] | None = tomllib.loads(new_text)
    except (tomlkit.exceptions.TOMLKitError, tomllib.TOMLDecodeError):
        new_data = None
    if new_data != _expected(data, extractor, ref):
        raise ConfigError(
            f"cannot update {target} safely: [extractors.{extractor}] could not be changed without "
            f"changing something else. Set it by hand:\n{by_hand}",
            key=f"extractors.{extractor}.model",
            source=str(target),
        )
    assert new_data is not None
    Settings.from_mapping(new_data, source=str(target))  # still a valid configuration
    if crlf:
        new_text = new_text.replace("\n", "\r\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(target, new_text.encode("utf-8"), original)
    _forget_cached_settings(target)

    notes = []
    env_key = f"EXTRACTKIT_{extractor.upper()}_MODEL"
    if os.environ.get(env_key):
        notes.append(f"${env_key} is set and overrides the file; unset it to use {ref}")
    if isinstance(table, dict) and table.get("output_mode"):
        notes.append(
            f"extractors.{extractor}.output_mode = {table['output_mode']!r} stays; a model fine-tuned on "
            "plain JSON answers usually runs best with 'bare' (the ft: default) — remove the line to use it"
        )
    return ConfigUpdate(target, extractor, ref, previous if isinstance(previous, str) else None, tuple(notes))


def _forget_cached_settings(path: Path) -> None:
    """Re-read the file into the process-wide settings, when they came from it (the app switches now)."""
    from extractkit import config

    current = config._settings
    if current is not None and current.source and Path(current.source).resolve() == path.resolve():
        config.set_settings(current.source)
