"""The radiograph ResNet: architecture, quick training run, manifest, loader, shipped checkpoints."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from xaihealth.checkpoints import ChecksumError, models_dir, read_manifest, sha256
from xaihealth.data.cxr import make_chest_xrays, split_seed
from xaihealth.models.cxr_resnet import (
    CHECKPOINTS,
    CXRResNet,
    build_cxr_resnet,
    load_cxr_resnet,
    predict_proba,
)

ROOT = Path(__file__).resolve().parents[1]
METRICS = {
    "test_id_accuracy", "test_id_auc", "test_shifted_accuracy", "test_shifted_auc", "marker_effect",
}  # fmt: skip


def _script():
    spec = importlib.util.spec_from_file_location(
        "train_cxr_resnet", ROOT / "scripts" / "train_cxr_resnet.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cxr_models")
    threads = torch.get_num_threads()
    try:
        results = _script().main(["--quick", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)
    return out, results


def test_architecture_is_a_small_torchvision_resnet():
    model = build_cxr_resnet()
    assert isinstance(model, ResNet)
    names = {name for name, _ in model.named_children()}
    assert {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"} <= names
    assert all(isinstance(m, BasicBlock) for m in model.layer4)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1) and model.conv1.in_channels == 1
    assert isinstance(model.maxpool, nn.Identity)
    feats = {}
    model.layer4.register_forward_hook(lambda m, i, o: feats.setdefault("layer4", o))
    out = model.eval()(torch.zeros(2, 1, 64, 64))
    assert out.shape == (2, 2) and feats["layer4"].shape == (2, 64, 8, 8)
    assert sum(p.numel() for p in model.parameters()) * 4 < 10 * 2**20


def test_bad_architecture_arguments():
    with pytest.raises(ValueError, match="blocks="):
        CXRResNet(blocks=[1, 1])
    with pytest.raises(ValueError, match="width="):
        CXRResNet(width=0)
    with pytest.raises(ValueError, match="unknown keys"):
        build_cxr_resnet({"depth": 18})
    with pytest.raises(ValueError, match="batch_size="):
        predict_proba(build_cxr_resnet(), np.zeros((1, 1, 64, 64), np.float32), batch_size=0)


def test_quick_run_writes_manifest_with_sha256_and_metrics(quick_run):
    out, results = quick_run
    manifest = read_manifest(out)
    assert set(CHECKPOINTS) <= set(manifest)
    for name in CHECKPOINTS:
        entry = manifest[name]
        path = out / entry["file"]
        assert path.exists() and entry["sha256"] == sha256(path) and entry["bytes"] == path.stat().st_size
        assert entry["bytes"] <= 10 * 2**20
        assert set(entry["metrics"]) == METRICS | ({"train_accuracy"} if name == "cxr_shuffled" else set())
        assert entry["metrics"] == pytest.approx({k: round(v, 4) for k, v in results[name].items()})
        assert entry["config"]["arch"] == "cxr_resnet" and "--quick" in entry["command"]


def test_loader_round_trips(quick_run):
    out, _ = quick_run
    script = _script()
    n_test = script.QUICK["n_test"]
    data = make_chest_xrays(n_test, split_seed(script.DATA_SEED, "test_id"), marker_correlation=0.9)
    for name in CHECKPOINTS:
        model = load_cxr_resnet(name, folder=out)
        assert not model.training
        prob = predict_proba(model, data.images).numpy()
        accuracy = float(np.mean((prob > 0.5) == (data.labels == 1)))
        assert accuracy == pytest.approx(read_manifest(out)[name]["metrics"]["test_id_accuracy"], abs=1e-4)
        again = load_cxr_resnet(name, folder=out)
        x = torch.from_numpy(data.images[:8])
        with torch.no_grad():
            assert torch.equal(model(x), again(x))


def test_tampered_checkpoint_is_refused(quick_run, tmp_path):
    out, _ = quick_run
    for item in out.iterdir():
        shutil.copy(item, tmp_path / item.name)
    path = tmp_path / "cxr_shortcut.safetensors"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError):
        load_cxr_resnet("cxr_shortcut", folder=tmp_path)
    load_cxr_resnet("cxr_control", folder=tmp_path)  # an untouched file still loads


def test_unknown_checkpoint_name(quick_run):
    out, _ = quick_run
    with pytest.raises(ValueError, match="name='cxr_missing'"):
        load_cxr_resnet("cxr_missing", folder=out)


@pytest.mark.skipif(
    not all(n in read_manifest(models_dir()) for n in CHECKPOINTS), reason="shipped checkpoints not built yet"
)
def test_shipped_checkpoints_show_the_shortcut():
    manifest = read_manifest(models_dir())
    shortcut, control = manifest["cxr_shortcut"]["metrics"], manifest["cxr_control"]["metrics"]
    assert shortcut["test_id_accuracy"] - shortcut["test_shifted_accuracy"] > 0.2
    assert abs(control["test_id_accuracy"] - control["test_shifted_accuracy"]) < 0.1
    assert control["test_shifted_auc"] > 0.85 and manifest["cxr_shuffled"]["metrics"]["test_id_auc"] < 0.65
    # the data-randomisation model memorised its permuted labels, as in Adebayo et al. (2018): > 95 %
    assert manifest["cxr_shuffled"]["metrics"]["train_accuracy"] > 0.95
    assert manifest["cxr_shuffled"]["config"]["epochs"] >= 20
    # Re-check on fresh images (a seed the script never used): the marker, not the opacity, drives the
    # shortcut model; removing the marker barely moves the control model.
    with_marker = make_chest_xrays(150, seed=987, marker_correlation=0.0, marker_rate=0.999)
    without = make_chest_xrays(150, seed=987, marker_correlation=0.0, marker_rate=0.999, render_markers=False)
    shift = {}
    for name in ("cxr_shortcut", "cxr_control"):
        model = load_cxr_resnet(name)
        shift[name] = float(
            (predict_proba(model, with_marker.images) - predict_proba(model, without.images)).mean()
        )
    assert shift["cxr_shortcut"] > 0.3 and abs(shift["cxr_control"]) < 0.15
