"""Module 08's decision guide as data: which explanation method to choose, and the scorecard rows behind it.

Each :class:`Recommendation` names the situation (access to the model, modality, the question asked), the
method, and the :class:`Citation` s of ``benchmarks/scorecard.json`` (DESIGN §12) that support it. A
citation says what the row must show: its verdict (*beats every null* or not) and on how many of the five
fresh draws (base seeds 1-5) that verdict must hold. :func:`check` compares every citation with the
scorecard and lists what does not hold, so the guide cannot drift from the course's measurements
(``tests/test_decision_guide.py`` and the lecture both assert that the list is empty).

:func:`evidence` grades a recommendation from its rows: *none* (the course never scored the method),
*thin* (a cited row's verdict holds on fewer than 4 of the 5 fresh draws), *measured* otherwise (which
includes a measured *negative*: a row that does not beat its nulls, robustly).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xaihealth.data.paths import datasets_dir

BEATS = "beats every null"
DOES_NOT = "does not beat every null"
ACCESS = ("full design", "existing model", "black box (API)")
MODALITIES = ("tabular", "imaging", "text")
QUESTIONS = ("global: what did the model use", "local: what did the model use", "what matters clinically")
ROBUST_SEEDS = 4  # a verdict that holds on at least 4 of the 5 fresh draws counts as robust


@dataclass(frozen=True)
class Citation:
    """A scorecard row (by its key: module · method · data · metric) and what the guide reads in it."""

    key: str
    verdict: str  # BEATS or DOES_NOT: the verdict the guide relies on
    min_seeds: int = 0  # the verdict must hold on at least this many of base seeds 1-5
    reading: str = ""  # what the row says for this recommendation, in a few words

    def __post_init__(self) -> None:
        if self.verdict not in (BEATS, DOES_NOT):
            raise ValueError(f"verdict={self.verdict!r} must be {BEATS!r} or {DOES_NOT!r}")
        if not isinstance(self.min_seeds, int) or not 0 <= self.min_seeds <= 5:
            raise ValueError(f"min_seeds={self.min_seeds!r} must be an integer from 0 to 5")


@dataclass(frozen=True)
class Recommendation:
    """One cell of the guide: in this situation, use this method, because of these rows."""

    access: str
    modality: str
    question: str
    method: str
    cites: tuple[Citation, ...]
    caveat: str = ""  # where the evidence is thin or the guide departs from common advice

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("access", self.access, ACCESS),
            ("modality", self.modality, MODALITIES),
            ("question", self.question, QUESTIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{name}={value!r} must be one of {allowed}")


def scorecard_path() -> Path:
    """``benchmarks/scorecard.json`` beside the shipped ``datasets/`` folder."""
    return datasets_dir().parent / "benchmarks" / "scorecard.json"


def load_scorecard(path: Path | str | None = None) -> dict[str, dict[str, Any]]:
    """The scorecard's rows by key (default: :func:`scorecard_path`)."""
    path = Path(path) if path is not None else scorecard_path()
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no scorecard there (made by `make scorecard`)")
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    return {row["key"]: row for row in rows}


def seeds_agreeing(row: dict[str, Any]) -> int:
    """On how many of base seeds 1-5 the row's verdict is the committed one."""
    return sum(v == row["verdict"] for v in (row.get("verdict_on_seeds") or {}).values())


def check(guide: tuple[Recommendation, ...], rows: dict[str, dict[str, Any]]) -> list[str]:
    """Every citation whose row is missing, has another verdict, or holds on too few fresh draws."""
    problems = []
    for rec in guide:
        for c in rec.cites:
            row = rows.get(c.key)
            if row is None:
                problems.append(f"{rec.method}: no scorecard row {c.key!r}")
            elif row["verdict"] != c.verdict:
                problems.append(
                    f"{rec.method}: {c.key!r} is {row['verdict']!r}, the guide reads {c.verdict!r}"
                )
            elif seeds_agreeing(row) < c.min_seeds:
                problems.append(
                    f"{rec.method}: {c.key!r} holds on {seeds_agreeing(row)}/5 fresh draws, the guide needs "
                    f"{c.min_seeds}"
                )
    return problems


def evidence(rec: Recommendation, rows: dict[str, dict[str, Any]]) -> str:
    """'none' (no row cited), 'thin' (a cited verdict holds on fewer than 4 of 5 fresh draws), else
    'measured'."""
    if not rec.cites:
        return "none"
    if any(seeds_agreeing(rows[c.key]) < ROBUST_SEEDS for c in rec.cites):
        return "thin"
    return "measured"


def interval(rows: dict[str, dict[str, Any]], key: str) -> tuple[float, float, float]:
    """(score, low, high) of a row."""
    row = rows[key]
    return float(row["score"]), float(row["low"]), float(row["high"])


def _key(module: str, method: str, data: str, metric: str) -> str:
    return " · ".join((module, method, data, metric))


_EBM = "EBM (4 bags, 3 pairs, round-robin, no smoothing rounds for mains or pairs)"
_COHORT4K = "synthetic cohort, n = 4,000"
_NOTES = "synthetic notes (held-out combinations), 2-layer transformer"
_CXR = "synthetic radiographs, shortcut model"
_MASS = "relevance mass ÷ area, absolute attribution (mean of 12 films)"
_PIXEL_AUROC = "pixel AUROC, absolute attribution (mean of 12 films)"

KEYS = {
    "gam_shapes": _key(
        "01", "spline GAM (6 knots, no pair)", _COHORT4K,
        "R² of learned vs planted shape after purification, mean over the 5 main effects",
    ),
    "ebm_shapes": _key(
        "01", _EBM, _COHORT4K,
        "R² of learned vs planted shape after purification, mean over the 5 main effects",
    ),
    "ebm_pair": _key("01", _EBM, _COHORT4K, "R² of the purified pair term vs planted (1 = exact)"),
    "treeshap_exact": _key(
        "03", "TreeSHAP (interventional)", "synthetic cohort, GBM, 30 test patients",
        "‖φ − φ_exact‖∞ (largest error over features), mean over patients (log-odds)",
    ),
    "treeshap_truth": _key(
        "03", "TreeSHAP (interventional, 50-patient background)", "synthetic cohort, GBM, 500 test patients",
        "R² vs truth, each feature centred over patients, pooled over 10 features",
    ),
    "treeshap_top3": _key(
        "03", "TreeSHAP (interventional)", "synthetic cohort, GBM, 30 test patients far from the mean",
        "top-3 overlap with the true top 3, mean over patients",
    ),
    "treeshap_deletion": _key(
        "03", "TreeSHAP ranking (interventional), deletion curve",
        "synthetic cohort, GBM, 30 test patients far from the mean",
        "normalised area under the deletion curve (features set to the cohort mean in ranked order), mean "
        "over patients",
    ),
    "kernelshap": _key(
        "03", "KernelSHAP (shap.KernelExplainer, 500 coalitions)", "synthetic cohort, GBM, one patient",
        "‖φ − φ_exact‖∞ (largest error over features), mean over 5 seeds (log-odds)",
    ),
    "lime_top3": _key(
        "03", "LIME (continuous, 500 samples)", "synthetic cohort, GBM, 30 test patients far from the mean",
        "top-3 overlap with the true top 3, mean over patients",
    ),
    "ig_mass": _key("04", "IG (black)", _CXR, _MASS),
    "ig_blur_mass": _key("04", "IG (blurred)", _CXR, _MASS),
    "gradcam_mass": _key("04", "Grad-CAM", _CXR, _MASS),
    "gradcam_auroc": _key("04", "Grad-CAM", _CXR, _PIXEL_AUROC),
    "gradient_mass": _key("04", "gradient", _CXR, _MASS),
    "smoothgrad_mass": _key("04", "SmoothGrad", _CXR, _MASS),
    "cbm_concept": _key(
        "02", "CBM (independent), predicted concept", "synthetic ECG, 1,000 test records",
        "R² of predicted vs planted QTc",
    ),
    "tcav_matched": _key(
        "02", "TCAV (features.0), QTc contrast at matched heart rate", "synthetic ECG, baseline CNN",
        "TCAV score difference A − C (paired over 30 random sets)",
    ),
    "tcav_plain": _key(
        "02", "TCAV (features.0, 30 random sets, logistic CAV)", "synthetic ECG, baseline CNN",
        "TCAV score (mean over 30 random sets)",
    ),
    "probe_layer0": _key(
        "05", "linear probe: allergen class at ':' after layer 0", _NOTES, "held-out accuracy (1,000 notes)"
    ),
    "probe_embed": _key(
        "05", "linear probe: allergen class at ':' embeddings", _NOTES, "held-out accuracy (1,000 notes)"
    ),
    "steering": _key(
        "05", "probe direction steering: negation at ':' after layer 0", _NOTES,
        "normalised margin drop on avoid notes",
    ),
    "patch_negation": _key(
        "05", "joint denoising patch of the earlier claimed circuit C (negation swap)",
        "synthetic notes (held-out pairs), 2-layer transformer",
        "normalised recovery of the logit difference (60 pairs)",
    ),
    "patch_allergen": _key(
        "05", "joint denoising patch of the earlier claimed circuit C (allergen swap)",
        "synthetic notes (held-out pairs), 2-layer transformer",
        "normalised recovery of the logit difference (60 pairs)",
    ),
    "subgroup_auc": _key(
        "06", "per-group AUC with patient bootstrap (fairlearn MetricFrame)",
        "trust cohort, logistic regression, 3,000 fresh patients", "AUC gap: other bands − 80+",
    ),
}
"""Short names of the cited rows (the lecture and the test refer to rows through these)."""


def _c(name: str, verdict: str = BEATS, min_seeds: int = ROBUST_SEEDS, reading: str = "") -> Citation:
    return Citation(KEYS[name], verdict, min_seeds, reading)


GUIDE: tuple[Recommendation, ...] = (
    Recommendation(
        "full design", "tabular", "global: what did the model use", "glass box: spline GAM or EBM",
        (
            _c("gam_shapes", reading="the GAM recovers the planted shapes (R² ≈ 0.89) and beats lines"),
            _c("ebm_pair", reading="the EBM recovers the planted pure interaction"),
            _c("ebm_shapes", DOES_NOT, reading="the EBM's main shapes lose to the spline GAM"),
        ),
        "departs from the common advice 'build an EBM': on smooth planted shapes a spline GAM recovers "
        "the mains better; the EBM earns its place by finding the pair",
    ),
    Recommendation(
        "existing model", "tabular", "local: what did the model use", "TreeSHAP (interventional)",
        (
            _c("treeshap_exact", reading="exact up to rounding (~1e-8) against enumeration"),
            _c("treeshap_truth", reading="tracks the planted contributions (pooled R² ≈ 0.7)"),
            _c("treeshap_deletion", reading="faithful: deleting its top features moves the output fastest"),
        ),
        "exact for the model, not for the patient: its R² against the planted truth is ≈ 0.7 because the "
        "model itself errs",
    ),
    Recommendation(
        "existing model", "tabular", "what matters clinically", "TreeSHAP top-k ranking per patient",
        (_c("treeshap_top3", min_seeds=1, reading="beats a global ranking on 1 of 5 fresh draws only"),),
        "thin: a per-patient top 3 does not beat one global ranking robustly",
    ),
    Recommendation(
        "black box (API)", "tabular", "local: what did the model use",
        "KernelSHAP with a budget of ≥ 500 coalitions",
        (_c("kernelshap", reading="500 coalitions: max error ≈ 0.005 log-odds; 24 coalitions: ≈ 0.15"),),
        "costs |background| model calls per coalition (see §2); with a small query budget it is noisy",
    ),
    Recommendation(
        "black box (API)", "tabular", "what matters clinically", "LIME (only with a stability check)",
        (_c("lime_top3", min_seeds=1, reading="beats the nulls on the committed draw, 1 of 5 fresh ones"),),
        "thin, as the common advice's 'with caution' says: its verdict does not survive fresh draws; "
        "prefer KernelSHAP, which converges to the exact values",
    ),
    Recommendation(
        "existing model", "imaging", "local: what did the model use",
        "Integrated Gradients (black or blurred)",
        (
            _c("ig_mass", reading="relevance mass ÷ area on the marker ≈ 17, beats every null"),
            _c("ig_blur_mass", reading="≈ 33 with a blurred baseline"),
        ),
        "the pixel-AUROC rows of every map do not beat raw image intensity: score localisation by "
        "relevance mass, not AUROC",
    ),
    Recommendation(
        "existing model", "imaging", "global: what did the model use", "Grad-CAM (coarse region only)",
        (
            _c("gradcam_mass", reading="beats every null, but ≈ 7 against IG's ≈ 17"),
            _c("gradcam_auroc", DOES_NOT, reading="pixel AUROC does not beat Sobel edges or intensity"),
        ),
        "departs from 'Grad-CAM for the object's semantics': on our films it is a coarse, less "
        "concentrated map than IG; use it for the region, not for semantics",
    ),
    Recommendation(
        "existing model", "imaging", "local: what did the model use", "not the plain gradient or SmoothGrad",
        (
            _c("gradient_mass", DOES_NOT, reading="does not beat Sobel edge magnitude"),
            _c("smoothgrad_mass", DOES_NOT, min_seeds=4, reading="does not beat Sobel edge magnitude"),
        ),
        "a map that an edge detector matches says little about the model",
    ),
    Recommendation(
        "full design", "imaging", "what matters clinically", "concept bottleneck (planted clinical concept)",
        (_c("cbm_concept", reading="predicted QTc R² ≈ 0.95 (ECG, module 02)"),),
        "measured on ECGs, not radiographs",
    ),
    Recommendation(
        "existing model", "imaging", "what matters clinically", "TCAV with a matched contrast",
        (
            _c("tcav_matched", reading="the matched contrast A − C beats its nulls"),
            _c("tcav_plain", DOES_NOT, reading="a plain TCAV score does not beat an untrained CNN"),
        ),
        "a plain TCAV score is uninformative; only a contrast at matched confounders is (measured on ECGs)",
    ),
    Recommendation(
        "black box (API)", "text", "local: what did the model use", "word occlusion / LIME on words",
        (),
        "never scored in the course's scorecard; the case study in §3 measures occlusion against the "
        "planted rule slots",
    ),
    Recommendation(
        "existing model", "text", "global: what did the model use", "linear probe with a control task",
        (
            _c("probe_layer0", reading="allergen class after layer 0 beats the control task"),
            _c("probe_embed", DOES_NOT, reading="at the embeddings it does not: the probe's null matters"),
            _c("steering", reading="steering along the probe moves the answer, but by ≈ 3 % of the margin"),
        ),
        "a probe says the information is there, not that the model uses it: the steering effect is small",
    ),
    Recommendation(
        "existing model", "text", "what matters clinically", "activation patching of a candidate circuit",
        (
            _c("patch_negation", reading="negation: the claimed circuit beats every smaller set"),
            _c("patch_allergen", DOES_NOT, reading="allergen: a smaller head set does as well"),
        ),
        "departs from 'patching finds the circuit': patching tests a candidate; here the claimed circuit "
        "was not minimal for 2 of 3 swaps (module 05)",
    ),
)
"""The decision guide, one row per situation (module 08, §1)."""
