"""Module 08's decision guide as data: which explanation method to choose, and the scorecard rows behind it.

Each :class:`Recommendation` names the situation (access to the model, modality, the question asked), the
method, what kind of advice it is (*use*, *avoid*, *limit*: no attribution answers the question, or *not
scored*), the names the scorecard gives the method, and the :class:`Citation` s of
``benchmarks/scorecard.json`` (DESIGN §12) behind it. :func:`check` lists every citation that does not
back its advice, so the guide cannot drift from the course's measurements (``tests/test_decision_guide.py``
and the lecture both assert that the list is empty). A citation must:

* name a row that exists, with the verdict (*beats every null* or not) the guide reads;
* hold on at least :data:`ROBUST_SEEDS` of the five fresh draws (base seeds 1-5), or else state its exact
  count in its reading ("1 of 5 fresh draws");
* be about the recommended method and modality (the row's ``method`` contains one of the recommendation's
  ``names``; its module's modality is the recommendation's), unless it is marked ``contrast`` (a row about
  another method, cited to show a limit);
* quote only numbers the row holds: every "≈ x" in its reading lies within 10 % of the row's interval or
  of one of its baselines' scores.

A *use* recommendation needs a support row that beats its nulls (a negative row alone backs no
recommendation); an *avoid* one ("not ...") a support row that does not; a *limit* one only contrast rows;
a *not scored* one none, and says so in its method.

:func:`evidence` grades a recommendation from its rows: *none* (the course never scored the method),
*thin* (a cited verdict holds on fewer than 4 of the 5 fresh draws, or the row measured one patient),
*measured* otherwise (which includes a measured *negative*: a row that does not beat its nulls, robustly).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xaihealth.data.paths import datasets_dir

BEATS = "beats every null"
DOES_NOT = "does not beat every null"
ACCESS = ("full design", "existing model", "black box (API)")
MODALITIES = ("tabular", "signal (ECG)", "imaging", "text")
QUESTIONS = ("global: what did the model use", "local: what did the model use", "what matters clinically")
KINDS = ("use", "avoid", "limit", "not scored")
ROBUST_SEEDS = 4  # a verdict that holds on at least 4 of the 5 fresh draws counts as robust
MODULE_MODALITY = {"01": "tabular", "02": "signal (ECG)", "03": "tabular", "04": "imaging", "05": "text",
                   "05b": "text", "06": "tabular"}  # fmt: skip
"""The modality of each module's scorecard rows."""
RTOL = 0.1  # a quoted "≈ x" must lie within 10 % of the row's interval or of a baseline's score
_APPROX = re.compile(r"[≈~]\s*(\d+(?:\.\d+)?(?:e-?\d+)?)\s*(%?)")
_COUNT = re.compile(r"(\d) of 5 fresh draws")


@dataclass(frozen=True)
class Citation:
    """A scorecard row (by its key: module · method · data · metric) and what the guide reads in it."""

    key: str
    verdict: str  # BEATS or DOES_NOT: the verdict the guide relies on
    min_seeds: int = ROBUST_SEEDS  # the verdict must hold on at least this many of base seeds 1-5
    reading: str = ""  # what the row says for this recommendation, in a few words
    contrast: bool = False  # the row is about another method or modality, cited to show a limit

    def __post_init__(self) -> None:
        if self.verdict not in (BEATS, DOES_NOT):
            raise ValueError(f"verdict={self.verdict!r} must be {BEATS!r} or {DOES_NOT!r}")
        if not isinstance(self.min_seeds, int) or not 0 <= self.min_seeds <= 5:
            raise ValueError(f"min_seeds={self.min_seeds!r} must be an integer from 0 to 5")


@dataclass(frozen=True)
class Recommendation:
    """One cell of the guide: in this situation, use (or avoid) this method, because of these rows."""

    access: str
    modality: str
    question: str
    method: str
    kind: str  # one of KINDS
    names: tuple[str, ...]  # how the scorecard's ``method`` column names the recommended method(s)
    cites: tuple[Citation, ...]
    caveat: str = ""  # where the evidence is thin or the guide departs from common advice

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("access", self.access, ACCESS),
            ("modality", self.modality, MODALITIES),
            ("question", self.question, QUESTIONS),
            ("kind", self.kind, KINDS),
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


def _quoted_numbers(reading: str) -> list[float]:
    """The numbers a reading quotes as "≈ x" or "~x" (a percentage as a fraction)."""
    return [float(x) / (100 if pct else 1) for x, pct in _APPROX.findall(reading)]


def _holds(row: dict[str, Any], value: float) -> bool:
    """Whether ``value`` lies within RTOL of the row's interval or of one of its baselines' scores."""
    low, high = sorted((float(row["low"]), float(row["high"])))
    if low * (1 - RTOL) <= value <= high * (1 + RTOL):
        return True
    scores = [b["score"] for b in row.get("baselines") or () if b.get("score") is not None]
    return any(abs(value - s) <= RTOL * abs(s) for s in scores)


def _citation_problems(rec: Recommendation, c: Citation, row: dict[str, Any]) -> list[str]:
    where = f"{rec.method}: {c.key!r}"
    problems = []
    if row["verdict"] != c.verdict:
        problems.append(f"{where} is {row['verdict']!r}, the guide reads {c.verdict!r}")
    agree = seeds_agreeing(row)
    counts = [int(n) for n in _COUNT.findall(c.reading)]
    if agree < c.min_seeds:
        problems.append(f"{where} holds on {agree}/5 fresh draws, the guide needs {c.min_seeds}")
    elif c.min_seeds < ROBUST_SEEDS and (c.min_seeds != agree or agree not in counts):
        problems.append(f"{where}: a thin citation needs min_seeds = {agree} and '{agree} of 5 fresh draws' "
                        f"in its reading (min_seeds={c.min_seeds}, reading={c.reading!r})")
    if any(n != agree for n in counts):
        problems.append(f"{where}: the reading quotes {counts} of 5 fresh draws, the row holds on {agree}")
    for value in _quoted_numbers(c.reading):
        if not _holds(row, value):
            problems.append(f"{where}: the reading quotes ≈ {value:g}, the row has {float(row['score']):.3g} "
                            f"[{float(row['low']):.3g}, {float(row['high']):.3g}]")
    if not c.contrast:
        if not any(name in row["method"] for name in rec.names):
            problems.append(f"{where}: the row's method {row['method']!r} is none of {rec.names}")
        modality = MODULE_MODALITY.get(row["module"])
        if modality != rec.modality:
            problems.append(f"{where}: module {row['module']} is {modality}, not {rec.modality}")
    return problems


def _kind_problems(rec: Recommendation) -> list[str]:
    support = [c.verdict for c in rec.cites if not c.contrast]
    rules = {
        "use": (BEATS in support, "a 'use' recommendation needs a support row that beats its nulls"),
        "avoid": (rec.method.startswith("not ") and DOES_NOT in support,
                  "an 'avoid' recommendation says 'not ...' and needs a support row that does not beat"),
        "limit": (bool(rec.cites) and not support, "a 'limit' cell cites contrast rows only, at least one"),
        "not scored": (not rec.cites and "not scored" in rec.method,
                       "a 'not scored' recommendation cites nothing and says 'not scored'"),
    }
    ok, why = rules[rec.kind]
    return [] if ok else [f"{rec.method}: {why}"]


def check(guide: tuple[Recommendation, ...], rows: dict[str, dict[str, Any]]) -> list[str]:
    """Every citation that does not back its recommendation (see the module's docstring), and every
    recommendation whose citations do not fit its kind."""
    problems = []
    for rec in guide:
        problems += _kind_problems(rec)
        for c in rec.cites:
            row = rows.get(c.key)
            if row is None:
                problems.append(f"{rec.method}: no scorecard row {c.key!r}")
            else:
                problems += _citation_problems(rec, c, row)
    return problems


def evidence(rec: Recommendation, rows: dict[str, dict[str, Any]]) -> str:
    """'none' (no row cited), 'thin' (a cited verdict holds on fewer than 4 of 5 fresh draws, or a row
    measured one patient), else 'measured'."""
    if not rec.cites:
        return "none"
    cited = [rows[c.key] for c in rec.cites]
    if any(seeds_agreeing(r) < ROBUST_SEEDS or "one patient" in r["data"] for r in cited):
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
    "probe_negation": _key(
        "05", "linear probe: negation at ':' after layer 0", _NOTES, "held-out accuracy (1,000 notes)"
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
    "patch_drug": _key(
        "05", "joint denoising patch of the earlier claimed circuit C (drug swap)",
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


def _c(name: str, verdict: str = BEATS, min_seeds: int = ROBUST_SEEDS, reading: str = "",
       contrast: bool = False) -> Citation:  # fmt: skip
    return Citation(KEYS[name], verdict, min_seeds, reading, contrast)


_CLINICAL_LIMIT = (
    "an attribution explains the model, not the patient (§4): it credits a leak the model uses and misses "
    "a cause the model ignores. What answers the question is a causal or interventional study, or a glass "
    "box whose shapes a clinician reviews"
)

GUIDE: tuple[Recommendation, ...] = (
    Recommendation(
        "full design", "tabular", "global: what did the model use", "glass box: spline GAM or EBM", "use",
        ("spline GAM", "EBM"),
        (
            _c("gam_shapes", reading="the GAM recovers the planted shapes (R² ≈ 0.89) and beats lines"),
            _c("ebm_pair", reading="the EBM recovers the planted pure interaction (R² ≈ 0.80)"),
            _c("ebm_shapes", DOES_NOT, reading="the EBM's main shapes (R² ≈ 0.82) lose to the spline GAM"),
        ),
        "departs from the common advice 'build an EBM': on smooth planted shapes a spline GAM recovers "
        "the mains better; the EBM earns its place by finding the pair",
    ),
    Recommendation(
        "existing model", "tabular", "local: what did the model use", "TreeSHAP (interventional)", "use",
        ("TreeSHAP",),
        (
            _c("treeshap_exact", reading="exact up to rounding (~1e-8 log-odds) against enumeration"),
            _c("treeshap_truth", reading="tracks the planted contributions (pooled R² ≈ 0.70)"),
            _c("treeshap_deletion", reading="faithful: deleting its top features moves the output fastest"),
        ),
        "exact for the model, not for the patient: its R² against the planted truth is ≈ 0.7 because the "
        "model itself errs",
    ),
    Recommendation(
        "existing model", "tabular", "what matters clinically",
        "no attribution alone: a causal study or a reviewed glass box", "limit",
        (),
        (
            _c("treeshap_truth", contrast=True,
               reading="exact SHAP of a good model still explains only ≈ 70 % of the planted contributions"),
            _c("treeshap_top3", min_seeds=1, contrast=True,
               reading="TreeSHAP's per-patient top 3 beats one global ranking on the committed draw and on "
                       "1 of 5 fresh draws"),
            _c("lime_top3", min_seeds=1, contrast=True,
               reading="LIME's top 3 likewise: 1 of 5 fresh draws"),
        ),
        _CLINICAL_LIMIT,
    ),
    Recommendation(
        "black box (API)", "tabular", "local: what did the model use",
        "KernelSHAP with about half of the 2^M coalitions", "use", ("KernelSHAP",),
        (_c("kernelshap", reading="500 coalitions: max error ≈ 0.005 log-odds; 24 coalitions: ≈ 0.15"),),
        "thin: measured at M = 10 features on one patient, where 500 coalitions are about half of the "
        "2^10 − 2 = 1,022 (shap enumerates the smallest and largest coalition sizes whole); the budget for "
        "more features is not measured. It costs |background| model calls per coalition (see §2)",
    ),
    Recommendation(
        "black box (API)", "tabular", "local: what did the model use", "LIME (only with a stability check)",
        "use", ("LIME",),
        (_c("lime_top3", min_seeds=1, reading="beats the nulls on the committed draw, 1 of 5 fresh draws"),),
        "thin, as the common advice's 'with caution' says: its verdict does not survive fresh draws; a "
        "single global ranking (permutation importance) does as well on 4 of 5 of them",
    ),
    Recommendation(
        "full design", "signal (ECG)", "what matters clinically",
        "concept bottleneck (planted clinical concept)", "use", ("CBM",),
        (_c("cbm_concept", reading="predicted QTc R² ≈ 0.95"),),
        "a glass box on a clinical concept: the concept is predicted well; that the concept is the right "
        "one is the clinician's review, not a row",
    ),
    Recommendation(
        "existing model", "signal (ECG)", "global: what did the model use", "TCAV with a matched contrast",
        "use", ("TCAV",),
        (
            _c("tcav_matched", reading="the matched contrast A − C beats its nulls"),
            _c("tcav_plain", DOES_NOT, reading="a plain TCAV score does not beat an untrained CNN"),
        ),
        "a plain TCAV score is uninformative; only a contrast at matched confounders is",
    ),
    Recommendation(
        "existing model", "imaging", "local: what did the model use",
        "Integrated Gradients (black or blurred)", "use", ("IG",),
        (
            _c("ig_mass", reading="relevance mass ÷ area on the marker ≈ 17, beats every null"),
            _c("ig_blur_mass", reading="≈ 33 with a blurred baseline"),
        ),
        "the pixel-AUROC rows of every map do not beat raw image intensity: score localisation by "
        "relevance mass, not AUROC",
    ),
    Recommendation(
        "existing model", "imaging", "local: what did the model use", "Grad-CAM (coarse region only)", "use",
        ("Grad-CAM",),
        (
            _c("gradcam_mass", reading="beats every null, mass ÷ area ≈ 7.3, less concentrated than IG"),
            _c("gradcam_auroc", DOES_NOT, reading="pixel AUROC does not beat Sobel edges or intensity"),
        ),
        "a per-film map; its margin over the Sobel edge map is small (paired Δ from about 0.1 to 1.4) and "
        "the verdict fails on 1 of the 5 fresh draws. 'Grad-CAM for semantics' is not tested here: the "
        "rows measure mass on a small marker",
    ),
    Recommendation(
        "existing model", "imaging", "local: what did the model use", "not the plain gradient or SmoothGrad",
        "avoid", ("gradient", "SmoothGrad"),
        (
            _c("gradient_mass", DOES_NOT, reading="does not beat Sobel edge magnitude"),
            _c("smoothgrad_mass", DOES_NOT, reading="does not beat Sobel edge magnitude"),
        ),
        "a map that an edge detector matches says little about the model",
    ),
    Recommendation(
        "black box (API)", "text", "local: what did the model use", "word occlusion (not scored)",
        "not scored", (),
        (),
        "never scored in the course's scorecard; §3's case C measures occlusion against the planted rule "
        "slots in this lecture only. LIME on words removes words, the out-of-distribution fill case C "
        "rejects; it was not measured",
    ),
    Recommendation(
        "existing model", "text", "global: what did the model use", "linear probe with a control task",
        "use", ("linear probe", "probe direction steering"),
        (
            _c("probe_layer0", reading="allergen class after layer 0 beats the control task"),
            _c("probe_negation", reading="negation after layer 0 beats the control task"),
            _c("probe_embed", DOES_NOT, reading="at the embeddings it does not: the probe's null matters"),
            _c("steering", reading="steering along the negation probe moves the answer, by ≈ 3 % of the "
                                   "margin at module 05's step size"),
        ),
        "a probe says the information is there, not that the model uses it: the steering effect is small",
    ),
    Recommendation(
        "existing model", "text", "global: what did the model use",
        "activation patching of a candidate circuit", "use", ("joint denoising patch",),
        (
            _c("patch_negation", reading="negation swap: the claimed circuit recovers ≈ 0.93 and beats "
                                         "its nulls"),
            _c("patch_allergen", DOES_NOT, reading="allergen swap: a smaller head set does as well"),
            _c("patch_drug", DOES_NOT, reading="drug swap: a smaller head set does as well"),
        ),
        "departs from 'patching finds the circuit': patching tests a candidate; the claimed circuit was not "
        "minimal for 2 of 3 swaps (module 05; the rows' shared note says it is not first among four-head "
        "sets even for negation)",
    ),
)
"""The decision guide, one row per situation (module 08, §1)."""
