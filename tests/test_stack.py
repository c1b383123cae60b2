"""The course stack imports on this machine; a broken import fails with its reason."""

import importlib
import traceback

import pytest

MODULES = ["torch", "torchvision", "captum", "shap", "interpret", "lime", "transformer_lens", "transformers",
           "sklearn", "pandas", "matplotlib", "jupytext", "nbval", "safetensors"]  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_imports(name):
    try:
        importlib.import_module(name)
    except Exception as err:  # report the reason, e.g. torchvision built against another torch
        pytest.fail(f"import {name} failed: {type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}")


def test_transformer_bridge_is_available():
    from transformer_lens.model_bridge import TransformerBridge

    assert hasattr(TransformerBridge, "boot_native"), (
        "TransformerLens 4: TransformerBridge.boot_native is missing"
    )


def test_torch_and_torchvision_work_together():
    import torch
    import torchvision

    # a torchvision C++ op proves the two builds match (a mismatched pair fails here, not at import)
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    model = torchvision.models.resnet18(weights=None, num_classes=2).eval()
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2)
