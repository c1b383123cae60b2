"""The ECG CNN: architecture, the training script in quick mode, the checkpoint guard, the shipped model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from xaihealth.checkpoints import ChecksumError, read_manifest, sha256
from xaihealth.data import make_ecgs
from xaihealth.models.ecg_cnn import ECGCNN, load_ecg_cnn

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("train_ecg_cnn", ROOT / "scripts" / "train_ecg_cnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ECGCNN]:
    out = tmp_path_factory.mktemp("models")
    threads = torch.get_num_threads()
    try:
        model = _script().main(["--quick", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    return out, model


def test_quick_run_writes_a_manifest_entry_that_vouches_for_the_file(quick: tuple[Path, ECGCNN]) -> None:
    out, _ = quick
    entry = read_manifest(out)["ecg_cnn"]
    path = out / entry["file"]
    assert entry["sha256"] == sha256(path)
    assert entry["bytes"] == path.stat().st_size <= 10 * 2**20
    assert entry["command"].startswith("python scripts/train_ecg_cnn.py")
    assert entry["data_seed"] != entry["config"]["test_seed"]  # the test set is held out
    for key in ("accuracy", "auc", "prevalence"):
        assert 0.0 <= entry["metrics"][key] <= 1.0
    for key in ("in_leads", "widths", "kernel", "fs", "duration"):
        assert key in entry["config"]
    json.dumps(entry)  # plain JSON, nothing pickled


def test_loader_round_trips_the_trained_model(quick: tuple[Path, ECGCNN]) -> None:
    out, trained = quick
    loaded = load_ecg_cnn(folder=out)
    assert not loaded.training
    x = torch.from_numpy(make_ecgs(6, 77).signals)
    with torch.no_grad():
        assert torch.equal(trained.eval()(x), loaded(x))
    for key, value in trained.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_a_tampered_checkpoint_is_refused(quick: tuple[Path, ECGCNN], tmp_path: Path) -> None:
    out, _ = quick
    for name in ("manifest.json", "ecg_cnn.safetensors"):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    data = bytearray((tmp_path / "ecg_cnn.safetensors").read_bytes())
    data[-1] ^= 0x01  # one bit of one weight
    (tmp_path / "ecg_cnn.safetensors").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="sha256"):
        load_ecg_cnn(folder=tmp_path)
    with pytest.raises(ValueError, match="name='nope'"):
        load_ecg_cnn("nope", folder=tmp_path)


def test_architecture_has_a_features_block_for_grad_cam() -> None:
    torch.manual_seed(0)
    model = ECGCNN(in_leads=2).eval()
    seen: list[torch.Tensor] = []
    handle = model.features.register_forward_hook(lambda _m, _i, o: seen.append(o))
    logits = model(torch.randn(3, 2, 2500))
    handle.remove()
    assert logits.shape == (3, 2)
    assert seen[0].shape == (3, 32, 156)  # a time axis of 2500 / 16 steps (64 ms at 250 Hz)
    assert isinstance(model.features[0], torch.nn.Conv1d)
    p = model.predict_proba(torch.randn(3, 2, 2500))
    assert p.shape == (3,) and ((p > 0) & (p < 1)).all()
    # Centring inside the model: a constant offset on a lead changes nothing.
    x = torch.randn(2, 2, 2500)
    assert torch.allclose(model(x), model(x + 0.7), atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"kernel": 6}, "kernel="), ({"widths": (8,)}, "widths="), ({"in_leads": 0}, "in_leads=")],
)
def test_bad_architecture_names_the_parameter(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ECGCNN(**kwargs)


def test_wrong_input_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="expected"):
        ECGCNN()(torch.zeros(2, 2500))


def test_shipped_checkpoint_reads_long_qt_on_fresh_records() -> None:
    entry = read_manifest()["ecg_cnn"]
    model = load_ecg_cnn()
    assert entry["bytes"] <= 10 * 2**20
    assert 0.85 <= entry["metrics"]["auc"] < 0.99
    ecgs = make_ecgs(400, 31337)
    y = ecgs.labels["long_qt"].to_numpy()
    p = model.predict_proba(torch.from_numpy(ecgs.signals)).numpy()
    auc = roc_auc_score(y, p)
    assert auc > 0.85, f"AUC {auc:.3f} on fresh records"
    assert abs(auc - entry["metrics"]["auc"]) < 0.06
    # Not a lookup of the label: it errs, mostly where the sex-specific threshold is ambiguous.
    wrong = (p > 0.5) != (y == 1)
    assert 0.02 < wrong.mean() < 0.2
    qtc = ecgs.concepts["qtc"].to_numpy()
    assert wrong[(qtc > 440) & (qtc < 480)].mean() > wrong[(qtc < 420) | (qtc > 500)].mean()
    assert np.corrcoef(p, qtc)[0, 1] > 0.6
