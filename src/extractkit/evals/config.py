"""The eval config file: which extractor, which cases, which candidates (TOML or JSON).

::

    # eval.toml
    extractor = "location"                  # "location", "intent", "pkg.module:Class" or "file.py:Class"
    cases = "cases.yaml"                    # one path or a list; relative to this file
    from_store = "sqlite:///exchanges.db"   # optional: add the records chosen for training
    training = "train.jsonl"                # optional: warn when a case is in the training set
    baseline = "teacher"
    scorer = "normalized"                   # exact | fields | normalized | "module:function"
    concurrency = 8
    cache = ".extractkit/eval-cache.sqlite" # false: no cache
    settings = "extractkit.toml"            # or an inline [settings] table (backends, prices)
    thresholds = { accuracy = 0.8, "finetuned/latency_p95_s" = 2.0 }

    [extractor_args]                        # keyword arguments for the extractor
    # routes = { book_holiday = "Book a day off", get_payslip = "Get a payslip" }

    [aliases]                               # for the normalized scorer
    "United States" = ["USA", "US"]

    [candidates.teacher]
    model = "openai:gpt-4o"
    prompt_variant = "full"

    [candidates.finetuned]
    model = "openai:ft:gpt-4o-mini-2024-07-18:acme::abc123"

    [candidates.production]
    replay = "exchanges.jsonl"              # recorded answers; model filters them

Candidates keep the order of the file; a candidate's other keys
(``max_attempts``, ``temperature``, ``seed``...) go to the extractor.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractkit.config import Settings
from extractkit.evals.candidates import Candidate, ExtractorFactory, Replay
from extractkit.evals.cases import EvalCase, cases_from_store, load_cases
from extractkit.evals.report import EvalReport
from extractkit.evals.run import ProgressCallback, run_eval
from extractkit.evals.scorers import Scorer, get_scorer
from extractkit.evals.thresholds import Threshold, parse_threshold
from extractkit.exceptions import ConfigError, ExtractKitError

__all__ = ["EvalConfig", "load_eval_config", "load_object"]

_TOP = {
    "extractor",
    "extractor_args",
    "cases",
    "from_store",
    "training",
    "baseline",
    "scorer",
    "fields",
    "concurrency",
    "cache",
    "settings",
    "thresholds",
    "aliases",
    "candidates",
    "router",
}
_CANDIDATE = {"model", "prompt_variant", "output_mode", "replay", "description"}
_BUILTIN = {
    "location": "extractkit.extractors.location:LocationExtractor",
    "intent": "extractkit.extractors.intent:IntentRouter",
}


def load_object(spec: str, *, base_dir: str | os.PathLike[str] = ".", what: str = "object") -> Any:
    """Import ``"package.module:name"`` or ``"path/to/file.py:name"`` (relative to ``base_dir``).

    Raises:
        ConfigError: The spec is malformed, or the module or name cannot be found.
    """
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{what} {spec!r} should be 'package.module:name' or 'file.py:name'")
    try:
        if module_name.endswith(".py"):
            path = Path(base_dir, module_name).resolve()
            if not path.is_file():
                raise ConfigError(f"{what} {spec!r}: file {str(path)!r} does not exist")
            unique = f"_extractkit_eval_{abs(hash(str(path)))}"
            module = sys.modules.get(unique)
            if module is None:
                loader_spec = importlib.util.spec_from_file_location(unique, path)
                if loader_spec is None or loader_spec.loader is None:
                    raise ConfigError(f"{what} {spec!r}: cannot load {str(path)!r} as Python")
                module = importlib.util.module_from_spec(loader_spec)
                sys.modules[unique] = module  # dataclasses and pickling look modules up by name
                loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what} {spec!r}: cannot import {module_name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{what} {spec!r}: {module_name!r} has no {attr!r}") from None


@dataclass
class EvalConfig:
    """A parsed eval config, ready to run.

    Attributes:
        extractor: The extractor factory (class with ``extractor_args`` bound).
        cases: The cases (files first, then store records).
        candidates: The candidates, in file order.
        scorer: The scorer.
        baseline: The baseline candidate's name (``None``: the first).
        concurrency: Extractions in flight per candidate.
        cache: The answer cache file, or ``None``.
        settings: Settings for the candidates (``None``: the process-wide ones).
        thresholds: Bounds checked after the run.
        training: The training file checked for overlap.
        router: Force routing metrics on or off (``None``: decide from the extractor).
        source: The config file.
    """

    extractor: ExtractorFactory
    cases: list[EvalCase]
    candidates: list[Candidate]
    scorer: Scorer
    baseline: str | None = None
    concurrency: int = 8
    cache: str | None = None
    settings: Settings | None = None
    thresholds: list[Threshold] = field(default_factory=list)
    training: str | None = None
    router: bool | None = None
    source: str | None = None

    async def run(
        self, *, progress: bool | ProgressCallback | None = None, use_cache: bool = True
    ) -> EvalReport:
        """Run the evaluation this config describes."""
        return await run_eval(
            self.extractor,
            self.cases,
            self.candidates,
            scorer=self.scorer,
            baseline=self.baseline,
            concurrency=self.concurrency,
            settings=self.settings,
            cache=self.cache if use_cache else None,
            progress=progress,
            router=self.router,
            training_file=self.training,
        )

    def close(self) -> None:
        """Close replay sources this config opened."""
        for candidate in self.candidates:
            if candidate.replay is not None:
                candidate.replay.close()


class _Reader:
    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"eval config {self.source!r}: '{key}' {problem}", key=key, source=self.source)

    def path(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(key, f"must be a file path, got {value!r}")
        return str(self.base / value) if "://" not in value else value

    def mapping(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.error(key, f"must be a table, got {type(value).__name__}")
        return value

    def candidate(self, name: str, raw: Any, settings: Settings | None) -> Candidate:
        key = f"candidates.{name}"
        if not isinstance(raw, Mapping):
            raise self.error(key, "must be a table like {model = 'openai:gpt-4o'}")
        options = {k: v for k, v in raw.items() if k not in _CANDIDATE}
        replay = None
        if "replay" in raw:
            source = raw["replay"]
            if options:
                raise self.error(
                    key, f"is a replay candidate; it takes only model and description, not {sorted(options)}"
                )
            target = self.path(source, f"{key}.replay")
            replay = Replay(target, model=raw.get("model"))
        try:
            return Candidate(
                name=name,
                model=None if replay is not None else raw.get("model"),
                prompt_variant=raw.get("prompt_variant"),
                output_mode=raw.get("output_mode"),
                settings=settings,
                options=options,
                replay=replay,
                description=str(raw.get("description") or ""),
            )
        except ExtractKitError as exc:
            if replay is not None:
                replay.close()
            raise self.error(key, f"is invalid: {exc}") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"eval config {str(path)!r} does not exist", source=str(path)) from None
    try:
        data: Any = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigError(f"eval config {str(path)!r} is not valid {kind}: {exc}", source=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"eval config {str(path)!r} must be a table at the top", source=str(path))
    return data


def load_eval_config(path: str | os.PathLike[str]) -> EvalConfig:
    """Read an eval config (``.toml`` or ``.json``); paths in it are relative to the file.

    Raises:
        ConfigError: Unknown keys, missing parts or bad values (the message names the key).
        DatasetError: A case file is malformed.
    """
    file = Path(path)
    data = _read(file)
    r = _Reader(str(file), file.resolve().parent)
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise r.error(unknown[0], f"is not a known key; expected one of: {', '.join(sorted(_TOP))}")

    spec = data.get("extractor")
    if not isinstance(spec, str) or not spec:
        raise r.error(
            "extractor", "must name the extractor: 'location', 'intent', 'module:Class' or 'file.py:Class'"
        )
    target = load_object(_BUILTIN.get(spec, spec), base_dir=r.base, what="extractor")
    if not callable(target):
        raise r.error("extractor", f"names {target!r}, which is not an extractor class or factory")
    args = dict(r.mapping(data, "extractor_args"))
    factory: ExtractorFactory = functools.partial(target, **args) if args else target

    settings_spec = data.get("settings")
    settings: Settings | None
    if settings_spec is None:
        settings = None
    elif isinstance(settings_spec, str):
        settings = Settings.load(r.path(settings_spec, "settings"))
    elif isinstance(settings_spec, Mapping):
        settings = Settings.from_mapping(settings_spec, source=f"{file} [settings]")
    else:
        raise r.error("settings", "must be a config file path or a table")

    cases: list[EvalCase] = []
    case_files = data.get("cases", [])
    for case_file in [case_files] if isinstance(case_files, str) else list(case_files):
        cases += load_cases(r.path(case_file, "cases"))
    if "from_store" in data:
        from extractkit.store import open_store

        with open_store(r.path(data["from_store"], "from_store"), read_only=True) as store:
            name = factory(store=False).name
            cases += cases_from_store(store, name)
    if not cases:
        raise r.error("cases", "gives no cases: name a case file, or from_store with included records")

    raw_candidates = r.mapping(data, "candidates")
    if not raw_candidates:
        raise r.error("candidates", "is empty: add [candidates.NAME] tables with a model each")
    candidates = []
    try:
        for name, raw in raw_candidates.items():
            candidates.append(r.candidate(name, raw, settings))
    except ExtractKitError:
        for done in candidates:
            if done.replay is not None:
                done.replay.close()
        raise

    aliases = r.mapping(data, "aliases")
    fields = data.get("fields")
    scorer_spec = data.get("scorer")
    if isinstance(scorer_spec, str) and ":" in scorer_spec:
        scorer = get_scorer(load_object(scorer_spec, base_dir=r.base, what="scorer"))
    else:
        scorer = get_scorer(scorer_spec, aliases=aliases or None, fields=fields)

    thresholds = [parse_threshold(f"{k}={v}") for k, v in r.mapping(data, "thresholds").items()]
    concurrency = data.get("concurrency", 8)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise r.error("concurrency", f"must be an integer >= 1, got {concurrency!r}")
    cache = data.get("cache", ".extractkit/eval-cache.sqlite")
    router = data.get("router")
    return EvalConfig(
        extractor=factory,
        cases=cases,
        candidates=candidates,
        scorer=scorer,
        baseline=data.get("baseline"),
        concurrency=concurrency,
        cache=None if cache is False else r.path(cache, "cache"),
        settings=settings,
        thresholds=thresholds,
        training=r.path(data["training"], "training") if "training" in data else None,
        router=router if isinstance(router, bool) else None,
        source=str(file),
    )
