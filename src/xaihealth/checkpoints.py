"""Trained models shipped with the course, and the manifest that vouches for them.

Every checkpoint in ``datasets/models/`` is made by a training script in ``scripts/`` with fixed seeds
(``make models`` runs them all) and stored as safetensors. ``datasets/models/manifest.json`` lists, for
each one: file, sha256, size, the command that made it, the data seed, the model configuration and its
test metrics. :func:`load_state_dict` refuses a file whose sha256 differs from the manifest, so a notebook
never explains a model other than the one described.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xaihealth.data.paths import datasets_dir

MAX_BYTES = 10 * 1024 * 1024
MANIFEST = "manifest.json"


class ChecksumError(ValueError):
    """A checkpoint file does not match the sha256 recorded in the manifest."""


def models_dir() -> Path:
    """The folder of shipped checkpoints (``datasets/models``)."""
    return datasets_dir() / "models"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """Return the manifest as ``{name: entry}`` (empty if there is none yet)."""
    path = (folder or models_dir()) / MANIFEST
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (folder / MANIFEST).write_text(text, encoding="utf-8")


def save_checkpoint(
    name: str,
    state_dict: Mapping[str, Any],
    *,
    command: str,
    data_seed: int,
    metrics: Mapping[str, float],
    config: Mapping[str, Any] | None = None,
    folder: Path | None = None,
) -> Path:
    """Write ``<name>.safetensors`` and record it in the manifest; return the file's path.

    ``state_dict`` maps names to tensors. ``config`` holds what is needed to rebuild the model.
    Refuses names with path separators and files over 10 MB.
    """
    from safetensors.torch import save_file

    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"name={name!r} must be a plain file stem such as 'ecg_cnn'")
    folder = folder or models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    save_file(tensors, str(path))
    size = path.stat().st_size
    if size > MAX_BYTES:
        path.unlink()
        raise ValueError(f"checkpoint {name!r} is {size / 2**20:.1f} MB; the course allows at most 10 MB")
    manifest = read_manifest(folder)
    manifest[name] = {
        "file": path.name,
        "sha256": sha256(path),
        "bytes": size,
        "command": command,
        "data_seed": int(data_seed),
        "metrics": {k: round(float(v), 4) for k, v in metrics.items()},
        "config": dict(config or {}),
    }
    _write_manifest(folder, manifest)
    return path


def checkpoint_entry(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The manifest entry of checkpoint ``name``."""
    manifest = read_manifest(folder)
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none yet (run `make models`)"
        raise ValueError(f"name={name!r} is not in the checkpoint manifest; known checkpoints: {known}")
    return manifest[name]


def load_state_dict(name: str, folder: Path | None = None) -> dict[str, Any]:
    """Load checkpoint ``name`` after verifying its sha256 against the manifest."""
    from safetensors.torch import load_file

    folder = folder or models_dir()
    entry = checkpoint_entry(name, folder)
    path = folder / entry["file"]
    if not path.exists():
        raise FileNotFoundError(f"checkpoint file {str(path)!r} is missing; run `make models`")
    actual = sha256(path)
    if actual != entry["sha256"]:
        raise ChecksumError(
            f"checkpoint {name!r}: sha256 of {path.name} is {actual}, the manifest says {entry['sha256']}; "
            "the file was changed or corrupted. Re-run `make models` or restore it from git."
        )
    return load_file(str(path))
