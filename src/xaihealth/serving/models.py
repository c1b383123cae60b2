"""The served models: each one answers ``predict`` at once and ``explain`` later, in the worker.

- ``cardio``: the course's tabular model (module 03): a gradient-boosted tree ensemble
  (:class:`sklearn.ensemble.GradientBoostingClassifier`) on the synthetic cardiovascular cohort
  (:func:`xaihealth.data.make_cardio_cohort`), trained when the service starts with a fixed recipe
  (:data:`CARDIO_RECIPE`). There is no checkpoint file, so its sha256 is that of the fitted trees
  (thresholds, features, leaf values: :func:`tree_sha256`); the same recipe and library versions give the
  same digest. Explained by interventional TreeSHAP (``shap.TreeExplainer``; Lundberg et al. 2020,
  Nat. Mach. Intell. 2:56) in log-odds, against a fixed background of 100 patients of another draw.
- ``cxr``: the radiograph ResNet ``cxr_control`` of module 04, loaded with
  :func:`xaihealth.models.cxr_resnet.load_cxr_resnet`, which refuses weights whose sha256 differs from the
  sealed manifest; that verified sha256 is what the archive records. Explained by Integrated Gradients
  (``captum.attr.IntegratedGradients``; Sundararajan et al. 2017, ICML) from a black image.

Every model takes the validated request inputs as a dict (the pydantic model's ``model_dump()``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xaihealth.serving.archive import ModelCard

CARDIO_FEATURES = ("age", "male", "bmi", "sbp", "chol", "smoker", "diabetes", "qtc", "qt_drug", "site")
CARDIO_RECIPE = {"generator": "make_cardio_cohort", "n": 2000, "seed": 0, "n_noise": 0,
                 "n_estimators": 150, "max_depth": 3, "random_state": 0,
                 "background": {"n": 100, "seed": 1}}  # fmt: skip
CARDIO_VERSION = "1"  # bump when CARDIO_RECIPE changes
CXR_CHECKPOINT = "cxr_control"
IG_STEPS = 32


def _float32(values: Any) -> np.ndarray:
    """``values`` as float64 numbers that float32 holds exactly: scikit-learn's trees compare float32, and
    TreeSHAP must see the same numbers, or a value between the two roundings falls on the other side of a
    threshold and the attributions no longer add up to the model's output."""
    return np.asarray(values, dtype=float).astype(np.float32).astype(float)


def tree_sha256(model: Any) -> str:
    """sha256 of a fitted gradient-boosting ensemble's trees: every node's feature, threshold and value."""
    digest = hashlib.sha256(np.asarray(model.init_.class_prior_, np.float64).tobytes())
    for tree in model.estimators_.ravel():
        t = tree.tree_
        for array in (t.children_left, t.children_right, t.feature, t.threshold, t.value):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def split_points(model: Any, n_features: int) -> list[frozenset[np.float32]]:
    """Per feature, the float32 values on which scikit-learn's and shap's trees disagree: the float32
    roundings of the ensemble's split thresholds that round *up* (an input equal to one is above the
    float64 split for scikit-learn and at the float32 split, so left, for shap)."""
    points: list[set[np.float32]] = [set() for _ in range(n_features)]
    for tree in model.estimators_.ravel():
        for feature, threshold in zip(tree.tree_.feature, tree.tree_.threshold, strict=True):
            if feature >= 0 and float(np.float32(threshold)) > threshold:
                points[feature].add(np.float32(threshold))
    return [frozenset(p) for p in points]


@dataclass
class CardioModel:
    """The tabular model: ``predict`` -> risk of a cardiovascular event, ``explain`` -> TreeSHAP values."""

    name: str = "cardio"
    model: Any = field(init=False, repr=False)
    explainer: Any = field(init=False, repr=False)
    card: ModelCard = field(init=False)
    thresholds: list = field(init=False, repr=False)
    background_sha256: str = field(init=False)

    def __post_init__(self) -> None:
        import shap
        from sklearn.ensemble import GradientBoostingClassifier

        from xaihealth.data import make_cardio_cohort

        r = CARDIO_RECIPE
        train = make_cardio_cohort(r["n"], seed=r["seed"], n_noise=r["n_noise"])
        self.model = GradientBoostingClassifier(
            n_estimators=r["n_estimators"], max_depth=r["max_depth"], random_state=r["random_state"]
        ).fit(_float32(train.X[list(CARDIO_FEATURES)]), train.y)
        b = r["background"]
        background = _float32(make_cardio_cohort(b["n"], seed=b["seed"], n_noise=0).X[list(CARDIO_FEATURES)])
        self.background_sha256 = hashlib.sha256(background.tobytes()).hexdigest()
        self.explainer = shap.TreeExplainer(
            self.model, data=background, feature_perturbation="interventional"
        )
        self.card = ModelCard(self.name, CARDIO_VERSION, tree_sha256(self.model))
        self.thresholds = split_points(self.model, len(CARDIO_FEATURES))

    def _row(self, inputs: dict[str, Any]) -> np.ndarray:
        return _float32([[float(inputs[name]) for name in CARDIO_FEATURES]])

    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """``{"risk": probability of an event within 10 years, "label": 0/1 at risk 0.5}``."""
        risk = float(self.model.predict_proba(self._row(inputs))[0, 1])
        return {"risk": risk, "label": int(risk >= 0.5)}

    def explain(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Interventional TreeSHAP of the log-odds: per-feature values that add up to log-odds - base.

        A value that sits exactly on a split point as float32 rounds it (cholesterol 3.9 mmol/L is
        3.9000000954 as float32, above the split 3.8999999762) goes right in scikit-learn's trees, which
        compare the float32 input with the float64 split, and left in shap's, which hold the split as
        float32: the attributions then explain another leaf and shap's additivity check refuses them (2 of
        400 typed cases here before this fix). Such a value is moved up by one float32 step, which keeps
        scikit-learn's log-odds (checked; if a step crossed another split the value is left to shap's own
        check) and gives shap the same path; the features moved are in ``parameters["float32_nudged"]``.
        """
        row = self._row(inputs)
        nudged = [j for j in range(row.shape[1]) if np.float32(row[0, j]) in self.thresholds[j]]
        explained = row.copy()
        for j in nudged:
            explained[0, j] = float(np.nextafter(np.float32(row[0, j]), np.float32(np.inf)))
        if nudged and self.model.decision_function(explained)[0] != self.model.decision_function(row)[0]:
            explained, nudged = row, []  # the step crossed another split: leave it to shap's own check
        values = self.explainer.shap_values(explained)[0]
        base = float(np.ravel(self.explainer.expected_value)[0])
        return {
            "method": "shap.TreeExplainer",
            "parameters": {"feature_perturbation": "interventional", "output": "log-odds",
                           "background_n": CARDIO_RECIPE["background"]["n"],
                           "float32_nudged": [CARDIO_FEATURES[j] for j in nudged]},  # fmt: skip
            "background_sha256": self.background_sha256,
            "attributions": {"base_value": base,
                             "values": dict(zip(CARDIO_FEATURES, map(float, values), strict=True))},
        }


@dataclass
class CXRModel:
    """The radiograph ResNet: ``predict`` -> probability of pneumonia, ``explain`` -> IG attribution map."""

    name: str = "cxr"
    model: Any = field(init=False, repr=False)
    card: ModelCard = field(init=False)

    def __post_init__(self) -> None:
        from xaihealth.checkpoints import checkpoint_entry
        from xaihealth.models.cxr_resnet import load_cxr_resnet

        self.model = load_cxr_resnet(CXR_CHECKPOINT)  # verifies the file's sha256 against the manifest
        entry = checkpoint_entry(CXR_CHECKPOINT)
        self.card = ModelCard(f"{self.name}:{CXR_CHECKPOINT}", entry["entry_sha256"][:12], entry["sha256"])

    def _image(self, inputs: dict[str, Any]) -> Any:
        import torch

        return torch.tensor(inputs["image"], dtype=torch.float32)[None, None]

    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """``{"risk": probability of pneumonia, "label": 0/1 at 0.5}``."""
        import torch

        with torch.no_grad():
            risk = float(torch.softmax(self.model(self._image(inputs)), dim=1)[0, 1])
        return {"risk": risk, "label": int(risk >= 0.5)}

    def explain(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Integrated Gradients of the pneumonia logit from a black image, one value per pixel."""
        import torch
        from captum.attr import IntegratedGradients

        x = self._image(inputs)
        attributions, delta = IntegratedGradients(self.model).attribute(
            x, baselines=torch.zeros_like(x), target=1, n_steps=IG_STEPS, return_convergence_delta=True
        )
        return {
            "method": "captum.attr.IntegratedGradients",
            "parameters": {"baseline": "black image", "target": 1, "n_steps": IG_STEPS, "output": "logit"},
            "background_sha256": None,
            "attributions": {"map": attributions[0, 0].detach().numpy().round(6).tolist(),
                             "convergence_delta": float(delta[0])},  # fmt: skip
        }


MODELS = {"cardio": CardioModel, "cxr": CXRModel}


def load_models(names: tuple[str, ...] = tuple(MODELS)) -> dict[str, Any]:
    """The served models named in ``names`` (keys of :data:`MODELS`), ready to predict and explain."""
    unknown = sorted(set(names) - set(MODELS))
    if unknown or not names:
        raise ValueError(f"names={names!r}: unknown or empty; allowed: {sorted(MODELS)}")
    return {name: MODELS[name]() for name in names}
