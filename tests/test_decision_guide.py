"""Module 08's decision guide cites scorecard rows that back its advice (issue 17): the row exists with the
claimed verdict and fresh-draw count, is about the recommended method and modality (or is marked as a
contrast), and holds every number the guide quotes; a negative row alone backs no recommendation."""

import dataclasses
import json

import pytest

from xaihealth import guide


@pytest.fixture(scope="module")
def rows():
    return guide.load_scorecard()


def _rec(method):
    return next(r for r in guide.GUIDE if r.method == method)


def _swap(rec, **changes):
    """The guide with one recommendation changed."""
    return tuple(dataclasses.replace(r, **changes) if r is rec else r for r in guide.GUIDE)


def _cite(name, verdict=guide.BEATS, min_seeds=guide.ROBUST_SEEDS, reading="", contrast=False):
    return guide.Citation(guide.KEYS[name], verdict, min_seeds, reading, contrast)


TREESHAP = "TreeSHAP (interventional)"
KERNEL = "KernelSHAP with about half of the 2^M coalitions"
IG = "Integrated Gradients (black or blurred)"
GRADCAM = "Grad-CAM (coarse region only)"
GLASS = "glass box: spline GAM or EBM"
AVOID = "not the plain gradient or SmoothGrad"
LIME = "LIME (only with a stability check)"


def test_every_cited_row_backs_its_recommendation(rows):
    assert guide.check(guide.GUIDE, rows) == []


def test_every_short_name_is_a_scorecard_row(rows):
    missing = [name for name, key in guide.KEYS.items() if key not in rows]
    assert not missing, f"KEYS names rows the scorecard lacks: {missing}"


def test_the_guide_covers_every_modality_and_access(rows):
    assert {r.modality for r in guide.GUIDE} == set(guide.MODALITIES)
    assert {r.access for r in guide.GUIDE} == set(guide.ACCESS)
    # a recommendation with thin or no evidence says why in its caveat
    for r in guide.GUIDE:
        if guide.evidence(r, rows) != "measured":
            assert r.caveat, r.method


def test_only_a_not_scored_recommendation_cites_nothing(rows):
    unscored = [r.method for r in guide.GUIDE if guide.evidence(r, rows) == "none"]
    declared = [r.method for r in guide.GUIDE if r.kind == "not scored"]
    assert unscored == declared == ["word occlusion (not scored)"]


def test_no_attribution_is_recommended_for_the_clinical_question():
    # §4: an attribution explains the model, not the patient
    attributions = ("SHAP", "LIME", "IG", "Grad-CAM", "gradient", "occlusion", "patching")
    for r in guide.GUIDE:
        if r.question == "what matters clinically" and r.kind == "use":
            assert not any(a in r.method for a in attributions), r.method


WRONG = {
    "another method's row": lambda: _swap(
        _rec(KERNEL), cites=(_cite("treeshap_exact", reading="max error ~1e-8"),)),
    "a neighbouring method's row": lambda: _swap(_rec(IG), cites=(_cite("gradcam_mass"),)),
    "another modality's row": lambda: _swap(
        _rec(GRADCAM), names=("linear probe",), cites=(_cite("probe_layer0"),)),
    "a wrong number in the reading": lambda: _swap(
        _rec(GLASS), cites=(_cite("gam_shapes", reading="R² ≈ 0.50"),) + _rec(GLASS).cites[1:]),
    "a wrong fresh-draw count in the reading": lambda: _swap(
        _rec(LIME), cites=(_cite("lime_top3", min_seeds=1, reading="holds on 3 of 5 fresh draws"),)),
    "a thin row read with min_seeds=0": lambda: _swap(
        _rec(LIME), cites=(_cite("lime_top3", min_seeds=0, reading="0 of 5 fresh draws"),)),
    "a thin row read without its count": lambda: _swap(
        _rec(LIME), cites=(_cite("lime_top3", min_seeds=1, reading="beats the nulls"),)),
    "a use backed by negative rows only": lambda: _swap(_rec(AVOID), method="plain gradient", kind="use"),
    "an avoid that does not say 'not'": lambda: _swap(_rec(AVOID), method="plain gradient (recommended)"),
    "a use with every citation dropped": lambda: _swap(_rec(TREESHAP), cites=()),
    "a use backed by contrast rows only": lambda: _swap(
        _rec(TREESHAP), cites=tuple(dataclasses.replace(c, contrast=True) for c in _rec(TREESHAP).cites)),
    "a limit cell with a support row": lambda: _swap(
        _rec("no attribution alone: a causal study or a reviewed glass box"),
        cites=(_cite("treeshap_truth"),)),
    "a flipped verdict": lambda: _swap(
        _rec(GLASS), cites=_rec(GLASS).cites[:2] + (_cite("ebm_shapes"),)),
    "a 5/5 requirement on a 4/5 row": lambda: _swap(
        _rec(GRADCAM), cites=(_cite("gradcam_mass", min_seeds=5),)),
    "a missing row": lambda: _swap(
        _rec(TREESHAP), cites=(guide.Citation("00 · no such row", guide.BEATS),)),
}


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_check_catches_a_citation_that_does_not_back_its_advice(rows, wrong):
    assert guide.check(WRONG[wrong](), rows), wrong


def test_quoted_numbers_are_parsed_with_percent_and_exponent():
    assert guide._quoted_numbers("R² ≈ 0.89, ≈ 3 % of it, ~1e-8, 500 coalitions") == [0.89, 0.03, 1e-8]


def test_evidence_grades(rows):
    assert guide.evidence(_rec(TREESHAP), rows) == "measured"
    assert guide.evidence(_rec(LIME), rows) == "thin"
    assert guide.evidence(_rec(KERNEL), rows) == "thin"  # one patient
    assert guide.evidence(_rec("word occlusion (not scored)"), rows) == "none"


def test_load_scorecard_reads_a_given_file_and_refuses_a_missing_one(tmp_path, rows):
    key = next(iter(rows))
    path = tmp_path / "scorecard.json"
    path.write_text(json.dumps({"rows": [rows[key]]}), encoding="utf-8")
    assert list(guide.load_scorecard(path)) == [key]
    with pytest.raises(FileNotFoundError, match="path="):
        guide.load_scorecard(tmp_path / "absent.json")


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="verdict="):
        guide.Citation("k", "beats")
    with pytest.raises(ValueError, match="min_seeds="):
        guide.Citation("k", guide.BEATS, min_seeds=6)
    with pytest.raises(ValueError, match="modality="):
        dataclasses.replace(guide.GUIDE[0], modality="genomics")
    with pytest.raises(ValueError, match="kind="):
        dataclasses.replace(guide.GUIDE[0], kind="maybe")
