"""The checkpoint pipeline: manifest with sha256, verified loading, clear refusals."""

import json

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
