"""The ECG concept bottleneck models: architecture, training script (quick), checkpoints, shipped models."""

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
from xaihealth.models.ecg_cbm import CONCEPTS, ECGCBM, MODES, concept_table, load_ecg_cbm

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("train_ecg_cbm", ROOT / "scripts" / "train_ecg_cbm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, ECGCBM]]:
    out = tmp_path_factory.mktemp("models")
    threads = torch.get_num_threads()
    try:
        models = _script().main(["--quick", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    return out, models


@pytest.mark.parametrize("mode", MODES)
def test_quick_run_writes_manifest_entries_that_vouch_for_the_files(quick, mode: str) -> None:
    out, _ = quick
    entry = read_manifest(out)[f"ecg_cbm_{mode}"]
    path = out / entry["file"]
    assert entry["sha256"] == sha256(path)
    assert entry["bytes"] == path.stat().st_size <= 10 * 2**20
    assert entry["command"].startswith("python scripts/train_ecg_cbm.py")
    assert entry["data_seed"] != entry["config"]["test_seed"]  # the test set is held out
    assert entry["config"]["mode"] == mode and entry["config"]["concepts"] == list(CONCEPTS)
    for key in ("accuracy", "auc", "prevalence"):
        assert 0.0 <= entry["metrics"][key] <= 1.0
    assert entry["metrics"]["rmse_qtc"] > 0
    json.dumps(entry)


@pytest.mark.parametrize("mode", MODES)
def test_loader_round_trips_the_trained_model(quick, mode: str) -> None:
    out, models = quick
    loaded = load_ecg_cbm(mode, folder=out)
    assert not loaded.training
    x = torch.from_numpy(make_ecgs(6, 77).signals)
    with torch.no_grad():
        assert torch.equal(models[mode].eval()(x), loaded(x))
    for key, value in models[mode].state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    assert loaded.concept_sd.min() > 0  # the standardisation travels with the weights


def test_independent_and_sequential_share_the_encoder(quick) -> None:
    _, models = quick
    a, b = models["independent"].state_dict(), models["sequential"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("head."))
    assert not torch.equal(a["head.weight"], b["head.weight"])


def test_a_tampered_checkpoint_is_refused(quick, tmp_path: Path) -> None:
    out, _ = quick
    for name in ("manifest.json", "ecg_cbm_joint.safetensors"):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    data = bytearray((tmp_path / "ecg_cbm_joint.safetensors").read_bytes())
    data[-1] ^= 0x01
    (tmp_path / "ecg_cbm_joint.safetensors").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="sha256"):
        load_ecg_cbm("joint", folder=tmp_path)
    with pytest.raises(ValueError, match="mode='nope'"):
        load_ecg_cbm("nope", folder=tmp_path)


def test_intervene_writes_the_standardised_true_value_before_the_head() -> None:
    torch.manual_seed(0)
    model = ECGCBM().eval()
    model.concept_mean.copy_(torch.tensor([72.0, 446.0, 98.0, 0.35, 1.1, 0.5]))
    model.concept_sd.copy_(torch.tensor([13.0, 28.0, 13.0, 0.11, 0.26, 0.5]))
    x = torch.randn(4, 1, 2500)
    qtc = torch.tensor([400.0, 450.0, 500.0, 530.0])
    z = model.predict_concepts(x)
    z[:, 1] = (qtc - 446.0) / 28.0
    assert torch.allclose(model.intervene(x, {"qtc": qtc}), model.head(z), atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(model.intervene(x, {}), model(x))
    back = model.unstandardise(model.standardise(torch.ones(2, 6)))
    assert torch.allclose(back, torch.ones(2, 6), atol=1e-6)
    with pytest.raises(ValueError, match="name="):
        model.intervene(x, {"qt": qtc})


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"kernel": 6}, "kernel="), ({"widths": (8,)}, "widths="), ({"concepts": ("qtc", "qt")}, "concepts")],
)
def test_bad_architecture_names_the_parameter(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ECGCBM(**kwargs)


def test_concept_table_codes_sex_as_female() -> None:
    ecgs = make_ecgs(20, 3)
    table = concept_table(ecgs.concepts)
    assert table.shape == (20, len(CONCEPTS)) and table.dtype == np.float32
    assert np.array_equal(table[:, -1] == 1, (ecgs.concepts["sex"] == "female").to_numpy())
    with pytest.raises(ValueError, match="not a concept"):
        concept_table(ecgs.concepts, ["qtc", "bmi"])


@pytest.mark.parametrize("mode", MODES)
def test_shipped_checkpoints_read_long_qt_and_qtc_on_fresh_records(mode: str) -> None:
    entry = read_manifest()[f"ecg_cbm_{mode}"]
    baseline = read_manifest()["ecg_cnn"]["metrics"]
    assert entry["bytes"] <= 10 * 2**20
    assert entry["metrics"]["accuracy"] >= baseline["accuracy"] - 0.05  # within the stated margin
    model = load_ecg_cbm(mode)
    ecgs = make_ecgs(400, 31337)
    x = torch.from_numpy(ecgs.signals)
    y = ecgs.labels["long_qt"].to_numpy()
    p = model.predict_proba(x).numpy()
    assert roc_auc_score(y, p) > 0.9
    with torch.no_grad():
        qtc_hat = model.unstandardise(model.predict_concepts(x))[:, 1].numpy()
    rmse = np.sqrt(((qtc_hat - ecgs.concepts["qtc"].to_numpy()) ** 2).mean())
    assert rmse < 12, f"QTc RMSE {rmse:.1f} ms"
