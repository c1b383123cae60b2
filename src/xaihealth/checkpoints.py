"""Trained models shipped with the course, and the manifest that vouches for them.

Every checkpoint in ``datasets/models/`` is made by a training script in ``scripts/`` with fixed seeds
(``make models`` runs them all) and stored as safetensors. ``datasets/models/manifest.json`` lists, for
each one: file, sha256, size, the command that made it, the data seed, the model configuration and its
test metrics. Nothing here may go wrong silently:

- :func:`load_state_dict` refuses a file whose sha256 differs from the manifest, so a notebook never
  explains a model other than the one described;
- each entry is *sealed*: ``entry_sha256`` is the sha256 of the canonical JSON of the entry and its name,
  so a hand edit of the configuration (concept order, head count, ...), or a swap of file and sha256
  between two entries, is refused at load; ``field_sha256`` holds a short digest per field (and per
  ``config`` key), only so that the refusal can say *what* changed;
- an entry without a seal is refused like an edited one: every shipped entry is sealed, and there is no
  command that seals an existing entry, so the only ways back are restoring the manifest from git or
  retraining (``make models``, which seals what it writes);
- a damaged manifest (invalid JSON, a key written twice, an entry that is not an object or lacks a key,
  a folder where the file should be) raises :class:`ManifestError` naming the file and the entry or key,
  never a bare ``KeyError`` or ``OSError``;
- :func:`save_checkpoint` writes to temporary files in the same folder and moves them into place with
  ``os.replace``, so a refused or interrupted save leaves the previous checkpoint and manifest intact.

The seal is a checksum, not a signature: it catches a hand edit or a damaged manifest, not someone who
deliberately recomputes it with :func:`seal_entry`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xaihealth.data.paths import datasets_dir

MAX_BYTES = 10 * 1024 * 1024
MANIFEST = "manifest.json"
ENTRY_KEYS = ("file", "sha256", "bytes", "command", "data_seed", "metrics", "config")
SEAL = "entry_sha256"
FIELD_SEALS = "field_sha256"
_FIELD_DIGEST_CHARS = 8  # diagnosis only: the full entry_sha256 is what refuses an edited entry
_HEX64 = re.compile(r"[0-9a-f]{64}")
_RESTORE = (
    "Restore the manifest from git (git checkout -- datasets/models/manifest.json) or retrain with "
    "`make models`"
)


class ChecksumError(ValueError):
    """A checkpoint file does not match the sha256 recorded in the manifest."""


class ManifestError(ValueError):
    """The manifest is damaged: invalid JSON, a key twice, a folder, or a malformed or incomplete entry."""


class SealError(ManifestError, ChecksumError):
    """A manifest entry differs from its seal (``entry_sha256``): it was edited after it was written."""


def models_dir() -> Path:
    """The folder of shipped checkpoints (``datasets/models``)."""
    return datasets_dir() / "models"


def sha256(path: Path) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the seal -------------------------------------------------------------------------------------------


def _canonical(value: Any) -> bytes:
    """The one JSON spelling of ``value`` that the seal hashes (sorted keys, no spaces, ASCII)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _body(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry without its seal fields, as it reads back from JSON (tuples become lists)."""
    return json.loads(_canonical({k: v for k, v in entry.items() if k not in (SEAL, FIELD_SEALS)}))


def _fields(name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Name, top-level fields and ``config`` keys, flattened: the units that a refusal can name."""
    fields: dict[str, Any] = {"name": name}
    for key, value in body.items():
        if key == "config" and isinstance(value, dict):
            fields.update({f"config.{k}": v for k, v in value.items()})
        else:
            fields[key] = value
    return fields


def _entry_digest(name: str, body: Mapping[str, Any]) -> str:
    """The seal proper: sha256 of the name and the whole entry, so no field can change unnoticed."""
    return hashlib.sha256(_canonical({"name": name, "entry": body})).hexdigest()


def _field_digests(name: str, body: Mapping[str, Any]) -> dict[str, str]:
    """Short digest per field, kept only so that a refusal can name what was edited."""
    return {
        key: hashlib.sha256(_canonical(value)).hexdigest()[:_FIELD_DIGEST_CHARS]
        for key, value in _fields(name, body).items()
    }


def seal_entry(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of manifest ``entry`` with its seal (``entry_sha256``, ``field_sha256``) for ``name``.

    The seal binds every field, and the name, to each other: loading refuses an entry whose fields no
    longer hash to it. Use it only for an entry that truly describes its file (``save_checkpoint`` does).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name={name!r} must be a non-empty string (the checkpoint's name)")
    if not isinstance(entry, Mapping):
        raise TypeError(f"entry={entry!r} must be a mapping (one manifest entry), not {type(entry).__name__}")
    try:
        body = _body(entry)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"entry={entry!r} must hold only JSON values (numbers, strings, lists, dicts)"
        ) from exc
    return {**body, SEAL: _entry_digest(name, body), FIELD_SEALS: _field_digests(name, body)}


def _label(field: str) -> str:
    """``config.concepts`` -> ``config['concepts']`` (how a student would find it in the JSON)."""
    return f"config[{field[7:]!r}]" if field.startswith("config.") else field


def _verify_seal(path: Path, name: str, entry: Mapping[str, Any]) -> None:
    """Raise :class:`SealError` unless ``entry`` hashes to its ``entry_sha256``."""
    stored = entry.get(SEAL)
    if not isinstance(stored, str):
        raise SealError(
            f"checkpoint {name!r}: its entry in {path} has no seal ({SEAL}), so nothing vouches that its "
            f"config describes the weights, and the entry is refused. Every shipped entry is sealed, so a "
            f"missing seal means the entry was edited or damaged. {_RESTORE}."
        )
    body = _body(entry)
    if _entry_digest(name, body) == stored:
        return
    old = entry.get(FIELD_SEALS) if isinstance(entry.get(FIELD_SEALS), dict) else {}
    new = _field_digests(name, body)
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    what = ", ".join(_label(k) for k in changed) if changed else f"{SEAL} itself"
    hint = " (this entry was sealed under another name)" if "name" in changed else ""
    raise SealError(
        f"checkpoint {name!r}: its entry in {path} no longer matches its seal ({SEAL}); changed since the "
        f"entry was written: {what}{hint}. The manifest must describe the weights it vouches for, so the "
        f"entry is refused. {_RESTORE}; a deliberate change of the model needs retraining, not an edit."
    )


# --- reading the manifest -------------------------------------------------------------------------------


def _folder(folder: Path | str | None) -> Path:
    """``folder`` as a Path (``None``: the shipped ``datasets/models``)."""
    if folder is None:
        return models_dir()
    if not isinstance(folder, str | os.PathLike):
        raise TypeError(f"folder={folder!r} must be a path (or None for the shipped models), not "
                        f"{type(folder).__name__}")  # fmt: skip
    return Path(folder)


class _DuplicateKey(Exception):
    """Raised inside ``json.loads`` by :func:`_unique_keys`; :func:`_read_raw` names the file."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: an object with a key twice is refused, not last-one-wins."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _read_raw(path: Path, wanted: str | None = None) -> dict[str, Any]:
    """The manifest at ``path`` as parsed JSON, refused unless it is an object ``{name: ...}``."""
    if not path.exists():
        return {}
    about = f" (looking up checkpoint {wanted!r})" if wanted else ""
    if path.is_dir():
        raise ManifestError(f"manifest {path} is a folder, not a JSON file{about}. {_RESTORE}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise ManifestError(
            f"manifest {path} has the key {exc.key!r} more than once{about}; JSON would silently keep only "
            f"the last one, so the manifest is refused. {_RESTORE}."
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(
            f"manifest {path} is not valid JSON{about}: {exc}; it may have been truncated by an interrupted "
            f"write or edited by hand. {_RESTORE}."
        ) from exc
    if not isinstance(data, dict):
        raise ManifestError(
            f"manifest {path} must hold a JSON object {{name: entry}}{about}, not a {type(data).__name__}. "
            f"{_RESTORE}."
        )
    return data


def _check_entry(path: Path, name: str, entry: Any) -> dict[str, Any]:
    """Return ``entry`` if it has every key with a usable type and matches its seal; else raise."""

    def damaged(problem: str) -> ManifestError:
        return ManifestError(f"checkpoint {name!r}: its entry in {path} {problem}. {_RESTORE}.")

    if not isinstance(entry, dict):
        raise damaged(f"must be a JSON object with keys {list(ENTRY_KEYS)}, not a {type(entry).__name__}")
    missing = [key for key in ENTRY_KEYS if key not in entry]
    if missing:
        raise damaged(f"lacks the key(s) {missing}")
    file = entry["file"]
    if not isinstance(file, str) or Path(file).name != file or not file.endswith(".safetensors"):
        raise damaged(f"has file={file!r}; it must be a plain '<name>.safetensors' file name")
    if not isinstance(entry["sha256"], str) or not _HEX64.fullmatch(entry["sha256"]):
        raise damaged(f"has sha256={entry['sha256']!r}; it must be 64 lowercase hex digits")
    for key, kind in (
        ("bytes", int),
        ("data_seed", int),
        ("command", str),
        ("metrics", dict),
        ("config", dict),
    ):
        if not isinstance(entry[key], kind) or isinstance(entry[key], bool):
            raise damaged(f"has {key}={entry[key]!r}; it must be a {kind.__name__}")
    _verify_seal(path, name, entry)
    return entry


def read_manifest(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """Return the manifest as ``{name: entry}`` (empty if there is none yet), every entry verified.

    Raises :class:`ManifestError` (a ``ValueError``) naming the file and the entry if the manifest is
    damaged, and :class:`SealError` if an entry was edited after it was written.
    """
    path = _folder(folder) / MANIFEST
    return {name: _check_entry(path, name, entry) for name, entry in _read_raw(path).items()}


def checkpoint_entry(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The verified manifest entry of checkpoint ``name`` (other entries are not looked at)."""
    if not isinstance(name, str):
        raise TypeError(f"name={name!r} must be a string such as 'ecg_cnn', not {type(name).__name__}")
    path = _folder(folder) / MANIFEST
    manifest = _read_raw(path, wanted=name)
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none yet (run `make models`)"
        raise ValueError(f"name={name!r} is not in the checkpoint manifest; known checkpoints: {known}")
    return _check_entry(path, name, manifest[name])


def load_state_dict(name: str, folder: Path | None = None) -> dict[str, Any]:
    """Load checkpoint ``name`` after verifying its manifest entry's seal and the file's sha256."""
    from safetensors.torch import load_file

    folder = _folder(folder)
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


# --- writing --------------------------------------------------------------------------------------------


def _temp_path(folder: Path, stem: str) -> Path:
    """Create a fresh, empty hidden file in ``folder`` and return its path.

    Same folder, hence same file system, so that ``os.replace`` moves it into place atomically; created
    with ``open(..., "x")`` rather than ``mkstemp`` so that it gets the usual permissions (umask), not 0600.
    """
    for _ in range(100):
        path = folder / f".{stem}.{secrets.token_hex(6)}.tmp"
        try:
            open(path, "xb").close()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"could not create a temporary file in {folder}")


def _manifest_text(manifest: Mapping[str, Any]) -> str:
    """The manifest as written to disk: sorted keys, indented, so that git diffs stay readable."""
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def _write_temp_text(path: Path, text: str) -> Path:
    """Write ``text`` to a fresh temporary file beside ``path`` (flushed to disk); return its path."""
    tmp = _temp_path(path.parent, path.name)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _check_arguments(
    name: Any, state_dict: Any, command: Any, data_seed: Any, metrics: Any, config: Any
) -> None:
    """Refuse bad arguments of :func:`save_checkpoint`, naming the parameter and the value."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"name={name!r} must be a plain file stem such as 'ecg_cnn'")
    if not isinstance(state_dict, Mapping) or not all(hasattr(v, "detach") for v in state_dict.values()):
        raise TypeError(f"state_dict of type {type(state_dict).__name__} must map names to torch tensors")
    if not isinstance(command, str) or not command.strip():
        raise ValueError(f"command={command!r} must be the command line that made the checkpoint")
    if isinstance(data_seed, bool) or not isinstance(data_seed, int):
        raise TypeError(f"data_seed={data_seed!r} must be an integer, not {type(data_seed).__name__}")
    if not isinstance(metrics, Mapping):
        raise TypeError(
            f"metrics={metrics!r} must be a mapping {{name: number}}, not {type(metrics).__name__}"
        )
    for key, value in metrics.items():
        if isinstance(value, bool) or not hasattr(value, "__float__"):
            raise TypeError(f"metrics[{key!r}]={value!r} must be a number")
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"config={config!r} must be a mapping or None, not {type(config).__name__}")
    try:
        _canonical(dict(config or {}))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"config={config!r} must hold only JSON values (numbers, strings, lists, dicts)"
        ) from exc


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
    """Write ``<name>.safetensors`` and record it, sealed, in the manifest; return the file's path.

    ``state_dict`` maps names to tensors. ``config`` holds what is needed to rebuild the model.
    Refuses names with path separators and files over 10 MB. The file and the manifest are first written
    to temporary files beside them and checked, then moved into place: a refused save (too big, bad
    arguments, a damaged manifest) leaves an existing checkpoint of the same name and its entry untouched.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    _check_arguments(name, state_dict, command, data_seed, metrics, config)
    folder = _folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path, manifest_path = folder / f"{name}.safetensors", folder / MANIFEST
    manifest = _read_raw(manifest_path)  # a damaged manifest is refused before anything is written
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    tmp, tmp_manifest = _temp_path(folder, path.name), None
    try:
        mode = tmp.stat().st_mode & 0o777  # the umask's usual permissions, which save_file drops (0600)
        save_file(tensors, str(tmp))
        os.chmod(tmp, mode)
        size = tmp.stat().st_size
        if size > MAX_BYTES:
            raise ValueError(f"checkpoint {name!r} is {size / 2**20:.1f} MB; the course allows at most 10 MB")
        with safe_open(str(tmp), framework="pt") as fh:
            if set(fh.keys()) != set(tensors):
                raise OSError(f"checkpoint {name!r}: the file written to {tmp} does not hold every tensor")
        entry = {
            "file": path.name,
            "sha256": sha256(tmp),
            "bytes": size,
            "command": command,
            "data_seed": int(data_seed),
            "metrics": {k: round(float(v), 4) for k, v in metrics.items()},
            "config": dict(config or {}),
        }
        text = _manifest_text({**manifest, name: seal_entry(name, entry)})
        tmp_manifest = _write_temp_text(manifest_path, text)
        # both files are complete on disk before either moves into place
        os.replace(tmp, path)
        os.replace(tmp_manifest, manifest_path)
    finally:
        for leftover in (tmp, tmp_manifest):
            if leftover is not None:
                leftover.unlink(missing_ok=True)
    return path


if __name__ == "__main__":  # the old `--seal` migration command is gone: say so instead of doing nothing
    import sys

    sys.exit(
        "python -m xaihealth.checkpoints has no commands: seals are written only by save_checkpoint "
        f"(`make models`), never added to an existing entry. For an entry refused at load: {_RESTORE}."
    )
