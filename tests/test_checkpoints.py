"""The checkpoint pipeline: manifest with sha256, verified loading, clear refusals."""

import json
import subprocess
import sys

import pytest
import torch

from xaihealth import checkpoints as ck


def _state():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2).state_dict()


def test_save_writes_file_and_manifest_and_loads_back(tmp_path):
    path = ck.save_checkpoint("toy", _state(), command="python scripts/train_toy.py", data_seed=1,
                              metrics={"auc": 0.91234567}, config={"d": 3}, folder=tmp_path)  # fmt: skip
    entry = json.loads((tmp_path / "manifest.json").read_text())["toy"]
    assert (
        entry["file"] == path.name
        and entry["sha256"] == ck.sha256(path)
        and entry["bytes"] == path.stat().st_size
    )
    assert entry["metrics"] == {"auc": 0.9123} and entry["config"] == {"d": 3} and entry["data_seed"] == 1
    loaded = ck.load_state_dict("toy", folder=tmp_path)
    assert all(torch.equal(loaded[k], v) for k, v in _state().items())


def test_tampered_file_is_refused(tmp_path):
    path = ck.save_checkpoint("toy", _state(), command="x", data_seed=0, metrics={}, folder=tmp_path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ck.ChecksumError, match="sha256"):
        ck.load_state_dict("toy", folder=tmp_path)


def test_unknown_name_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="name='nope'.*make models"):
        ck.load_state_dict("nope", folder=tmp_path)
    path = ck.save_checkpoint("toy", _state(), command="x", data_seed=0, metrics={}, folder=tmp_path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="make models"):
        ck.load_state_dict("toy", folder=tmp_path)


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", 3])
def test_bad_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="name="):
        ck.save_checkpoint(name, _state(), command="x", data_seed=0, metrics={}, folder=tmp_path)


def test_oversized_checkpoint_is_refused(tmp_path):
    big = {"w": torch.zeros(3 * 1024 * 1024)}  # 12 MB of float32
    with pytest.raises(ValueError, match="at most 10 MB"):
        ck.save_checkpoint("big", big, command="x", data_seed=0, metrics={}, folder=tmp_path)
    assert not (tmp_path / "big.safetensors").exists()


def test_every_shipped_checkpoint_matches_the_manifest():
    manifest = ck.read_manifest()
    for name, entry in manifest.items():
        path = ck.models_dir() / entry["file"]
        assert path.exists(), f"{name}: {entry['file']} listed in the manifest but not shipped"
        assert ck.sha256(path) == entry["sha256"], f"{name}: file differs from the manifest"
        assert entry["bytes"] <= ck.MAX_BYTES and entry["command"] and "metrics" in entry


def test_verify_models_reports_metric_drift():
    from xaihealth.tooling.verify_models import compare

    shipped = {"m": {"metrics": {"auc": 0.90, "acc": 0.80}}}
    assert compare(shipped, {"m": {"metrics": {"auc": 0.91, "acc": 0.795}}}, 0.02) == []
    problems = compare(shipped, {"m": {"metrics": {"auc": 0.85, "acc": 0.80}}, "new": {"metrics": {}}}, 0.02)
    assert any("m.auc" in p for p in problems) and any("new" in p for p in problems)
    in_units = {"m": {"metrics": {"rmse_ms": 6.25}}}
    assert compare(in_units, {"m": {"metrics": {"rmse_ms": 6.3}}}, 0.02) == []
    assert compare(in_units, {"m": {"metrics": {"rmse_ms": 6.5}}}, 0.02)


# --- artefacts that cannot silently go wrong ------------------------------------------------------------


def _save(tmp_path, name="toy", state=None, **config):
    state = _state() if state is None else state
    return ck.save_checkpoint(name, state, command="x", data_seed=0, metrics={"auc": 0.9}, config=config,
                              folder=tmp_path)  # fmt: skip


def _edit_manifest(tmp_path, edit):
    """Apply ``edit`` to the parsed manifest in ``tmp_path`` and write it back, as a hand edit would."""
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    edit(manifest)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest, indent=2))


def test_refused_oversized_save_keeps_the_old_checkpoint_and_entry(tmp_path, monkeypatch):
    path = _save(tmp_path, widths=[8])
    before, manifest_before = path.read_bytes(), (tmp_path / "manifest.json").read_bytes()
    monkeypatch.setattr(ck, "MAX_BYTES", 100)
    with pytest.raises(ValueError, match="'toy'.*at most 10 MB"):
        _save(tmp_path, state={"w": torch.ones(64)}, widths=[16])
    assert path.read_bytes() == before and (tmp_path / "manifest.json").read_bytes() == manifest_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "toy.safetensors"]  # no temp files
    monkeypatch.setattr(ck, "MAX_BYTES", 10 * 1024 * 1024)
    assert torch.equal(ck.load_state_dict("toy", folder=tmp_path)["weight"], _state()["weight"])


def test_a_crash_while_writing_leaves_the_old_checkpoint_and_manifest_valid(tmp_path, monkeypatch):
    path = _save(tmp_path, widths=[8])
    before, manifest_before = path.read_bytes(), (tmp_path / "manifest.json").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ck.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path, state={"weight": torch.zeros(2, 3), "bias": torch.zeros(2)}, widths=[16])
    monkeypatch.undo()
    assert path.read_bytes() == before and (tmp_path / "manifest.json").read_bytes() == manifest_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "toy.safetensors"]
    assert ck.checkpoint_entry("toy", tmp_path)["config"] == {"widths": [8]}
    ck.load_state_dict("toy", folder=tmp_path)


def test_manifest_is_written_through_a_temporary_file(tmp_path, monkeypatch):
    """A crash half-way through writing the manifest text must not leave half a manifest in place."""
    _save(tmp_path, "first")
    manifest_before = (tmp_path / "manifest.json").read_bytes()
    real_write = ck._write_temp_text

    def half_write(path, text):
        tmp = real_write(path, text[: len(text) // 2])  # what an interrupted write leaves on disk
        raise KeyboardInterrupt(f"interrupted after writing {tmp.name}")

    monkeypatch.setattr(ck, "_write_temp_text", half_write)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, "second")
    monkeypatch.undo()
    assert (tmp_path / "manifest.json").read_bytes() == manifest_before
    assert list(ck.read_manifest(tmp_path)) == ["first"] and not (tmp_path / "second.safetensors").exists()


def test_saved_entries_are_sealed_and_the_shipped_manifest_is_too(tmp_path):
    _save(tmp_path, concepts=["hr", "qtc"])
    entry = ck.checkpoint_entry("toy", tmp_path)
    assert len(entry[ck.SEAL]) == 64 and entry[ck.FIELD_SEALS]["config.concepts"]
    assert ck.seal_entry("toy", entry) == entry  # sealing is deterministic and ignores an old seal
    for name, shipped in ck.read_manifest().items():  # read_manifest verifies every seal
        assert shipped[ck.SEAL] == ck.seal_entry(name, shipped)[ck.SEAL]


def test_swapped_concept_order_in_config_is_refused(tmp_path):
    _save(tmp_path, concepts=["hr", "qtc", "qrs"])
    _edit_manifest(tmp_path, lambda m: m["toy"]["config"].update(concepts=["qtc", "hr", "qrs"]))
    with pytest.raises(ck.SealError, match=r"'toy'.*manifest.json.*config\['concepts'\].*git checkout"):
        ck.load_state_dict("toy", folder=tmp_path)
    with pytest.raises(ValueError, match="'toy'"):  # read_manifest refuses it too, and so do the loaders
        ck.read_manifest(tmp_path)


def test_edited_head_count_is_refused(tmp_path):
    _save(tmp_path, bridge={"n_heads": 4, "d_head": 16})
    _edit_manifest(tmp_path, lambda m: m["toy"]["config"]["bridge"].update(n_heads=8))
    with pytest.raises(ck.ChecksumError, match=r"'toy'.*config\['bridge'\]"):
        ck.checkpoint_entry("toy", tmp_path)


def test_file_and_hash_swapped_between_two_entries_are_refused(tmp_path):
    _save(tmp_path, "a")
    torch.manual_seed(1)
    _save(tmp_path, "b", state=torch.nn.Linear(3, 2).state_dict())

    def swap(m):
        for key in ("file", "sha256"):
            m["a"][key], m["b"][key] = m["b"][key], m["a"][key]

    _edit_manifest(tmp_path, swap)
    for name in ("a", "b"):
        with pytest.raises(ck.SealError, match=f"'{name}'.*written: file, sha256"):
            ck.load_state_dict(name, folder=tmp_path)
    _edit_manifest(tmp_path, lambda m: m.update(a=m["b"], b=m["a"]))  # whole entries under each other's name
    with pytest.raises(ck.SealError, match="sealed under another name"):
        ck.load_state_dict("a", folder=tmp_path)


def test_an_entry_without_a_seal_is_refused_and_the_message_says_restore_or_retrain(tmp_path):
    _save(tmp_path)
    _edit_manifest(tmp_path, lambda m: [m["toy"].pop(k) for k in (ck.SEAL, ck.FIELD_SEALS)])
    with pytest.raises(ck.SealError, match=r"'toy'.*no seal.*git checkout.*make models") as caught:
        ck.load_state_dict("toy", folder=tmp_path)
    assert "--seal" not in str(caught.value) and "re-seal" not in str(caught.value)


def test_an_edited_entry_cannot_be_resealed_by_deleting_its_seal(tmp_path):
    """Edit the config, drop both seal fields, try the old migration command: still refused."""
    _save(tmp_path, concepts=["hr", "qtc"])

    def reseal_bypass(m):
        m["toy"]["config"]["concepts"] = ["qtc", "hr"]
        del m["toy"][ck.SEAL], m["toy"][ck.FIELD_SEALS]

    _edit_manifest(tmp_path, reseal_bypass)
    edited = (tmp_path / "manifest.json").read_bytes()
    assert not hasattr(ck, "seal_manifest")  # no migration path left
    command = [sys.executable, "-m", "xaihealth.checkpoints", "--seal", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "make models" in result.stderr, result.stdout + result.stderr
    assert (tmp_path / "manifest.json").read_bytes() == edited
    for call in (lambda: ck.load_state_dict("toy", folder=tmp_path), lambda: ck.read_manifest(tmp_path)):
        with pytest.raises(ck.SealError, match=r"'toy'.*no seal.*make models"):
            call()


def test_a_key_written_twice_is_refused_naming_the_file_and_the_key(tmp_path):
    _save(tmp_path, concepts=["hr", "qtc"])
    manifest = tmp_path / "manifest.json"
    text = manifest.read_text()
    entry = json.loads(text)["toy"]
    # an edited config first, the original after it: with last-one-wins the seal would still match
    config = '"config": {"concepts": ["qtc", "hr"]}, "config": ' + json.dumps(entry["config"])
    body = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in entry.items() if k != "config")
    manifest.write_text('{"toy": {' + config + ", " + body + "}}")
    assert json.loads(manifest.read_text())["toy"] == entry  # what plain json.loads would have accepted
    for call in (lambda: ck.load_state_dict("toy", folder=tmp_path), lambda: ck.read_manifest(tmp_path),
                 lambda: _save(tmp_path, "other")):  # fmt: skip
        with pytest.raises(ck.ManifestError, match=r"json has the key 'config' more than once") as caught:
            call()
        assert str(manifest) in str(caught.value) and "make models" in str(caught.value)
    manifest.write_text('{"toy": ' + json.dumps(entry) + ', "toy": ' + json.dumps(entry) + "}")
    with pytest.raises(ck.ManifestError, match=r"key 'toy' more than once \(looking up checkpoint 'toy'\)"):
        ck.checkpoint_entry("toy", tmp_path)


def test_a_folder_where_the_manifest_should_be_is_a_manifest_error(tmp_path):
    (tmp_path / "manifest.json").mkdir()
    for call in (lambda: ck.load_state_dict("toy", folder=tmp_path), lambda: ck.read_manifest(tmp_path),
                 lambda: _save(tmp_path)):  # fmt: skip
        with pytest.raises(ck.ManifestError, match="is a folder") as caught:
            call()
        assert str(tmp_path / "manifest.json") in str(caught.value) and "make models" in str(caught.value)
    assert not (tmp_path / "toy.safetensors").exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: text[: len(text) // 2], r"manifest.json is not valid JSON \(looking up.*'toy'"),
        (lambda text: "[]", r"manifest.json must hold a JSON object.*'toy'"),
        (lambda text: json.dumps({"toy": "toy.safetensors"}), r"'toy'.*manifest.json must be a JSON object"),
        (lambda text: json.dumps({"toy": {**json.loads(text)["toy"], "sha256": None}}), "'toy'.*sha256=None"),
        (lambda text: json.dumps({"toy": {**json.loads(text)["toy"], "file": "../x.safetensors"}}),
         r"'toy'.*file='../x.safetensors'"),
    ],
)  # fmt: skip
def test_damaged_manifest_names_the_file_and_the_entry(tmp_path, damage, message):
    _save(tmp_path)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(damage(manifest.read_text()))
    with pytest.raises(ck.ManifestError, match=message) as caught:
        ck.load_state_dict("toy", folder=tmp_path)
    assert str(manifest) in str(caught.value) and "make models" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_missing_key_names_the_file_the_entry_and_the_key(tmp_path):
    _save(tmp_path)
    _edit_manifest(tmp_path, lambda m: m["toy"].pop("config"))
    for call in (lambda: ck.load_state_dict("toy", folder=tmp_path), lambda: ck.read_manifest(tmp_path)):
        with pytest.raises(ck.ManifestError, match=r"'toy'.*manifest.json lacks the key\(s\) \['config'\]"):
            call()


def test_save_refuses_to_overwrite_a_damaged_manifest(tmp_path):
    (tmp_path / "manifest.json").write_text('{"other": {"file": ')
    with pytest.raises(ck.ManifestError, match="not valid JSON"):
        _save(tmp_path)
    assert (tmp_path / "manifest.json").read_text() == '{"other": {"file": '
    assert not (tmp_path / "toy.safetensors").exists()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"state_dict": [1, 2]}, TypeError, "state_dict"),
        ({"command": ""}, ValueError, "command=''"),
        ({"data_seed": "1"}, TypeError, "data_seed='1'"),
        ({"metrics": {"auc": "high"}}, TypeError, r"metrics\['auc'\]='high'"),
        ({"metrics": [0.9]}, TypeError, r"metrics=\[0.9\]"),
        ({"config": {"f": object}}, TypeError, "config="),
        ({"folder": 3}, TypeError, "folder=3"),
    ],
)
def test_bad_save_arguments_name_parameter_and_value(tmp_path, kwargs, error, message):
    args = {"state_dict": _state(), "command": "x", "data_seed": 0, "metrics": {}, "folder": tmp_path}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        ck.save_checkpoint("toy", **args)
    with pytest.raises(TypeError, match="name=3"):
        ck.checkpoint_entry(3, tmp_path)
    with pytest.raises(TypeError, match="entry="):
        ck.seal_entry("toy", [1])
