"""Module 08's decision guide cites scorecard rows that exist, with the verdict it claims (issue 17)."""

import dataclasses
import json

import pytest

from xaihealth import guide


@pytest.fixture(scope="module")
def rows():
    return guide.load_scorecard()


def test_every_cited_row_exists_with_the_claimed_verdict(rows):
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


def _with_citation(citation):
    rec = dataclasses.replace(guide.GUIDE[1], cites=(citation,))
    return (rec,)


def test_check_catches_a_missing_row_a_wrong_verdict_and_a_fragile_one(rows):
    key = guide.KEYS["lime_top3"]  # beats every null on seed 0, on 1 of 5 fresh draws
    assert guide.check(_with_citation(guide.Citation("00 · no such row", guide.BEATS)), rows)
    assert guide.check(_with_citation(guide.Citation(key, guide.DOES_NOT)), rows)
    assert guide.check(_with_citation(guide.Citation(key, guide.BEATS, min_seeds=4)), rows)
    assert guide.check(_with_citation(guide.Citation(key, guide.BEATS, min_seeds=1)), rows) == []


def test_evidence_grades(rows):
    by_method = {r.method: r for r in guide.GUIDE}
    assert guide.evidence(by_method["TreeSHAP (interventional)"], rows) == "measured"
    assert guide.evidence(by_method["LIME (only with a stability check)"], rows) == "thin"
    assert guide.evidence(by_method["word occlusion / LIME on words"], rows) == "none"


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
