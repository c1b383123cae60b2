"""Keyed pseudonyms, and the masking of identifiers in notes measured on planted identifiers.

The masking claim (DESIGN §11): on generated notes with planted names, dates, phone numbers and record
numbers (:mod:`xaihealth.serving.planted`), for base seeds 1-5, the character-level precision and recall of
:func:`~xaihealth.serving.privacy.mask_identifiers` have 95 % bootstrap intervals (over notes) above those
of a null masker that hides every token with a digit or a capital letter, and recall's lower bound is at
least 0.9. Its two known failure modes are asserted as what they are: every missed character is in a name
written in lower case, and every over-masked character is a capitalised phrase taken for a name.
"""

import hashlib
import re

import numpy as np
import pytest
from scipy import stats

from xaihealth.serving.planted import make_planted_notes, masking_counts
from xaihealth.serving.privacy import find_identifiers, mask_identifiers, pseudonymise

KEY_A, KEY_B = b"a" * 32, b"b" * 32
N_NOTES = 300


def test_pseudonyms_are_keyed_and_deterministic():
    ids = [f"MRN{n:07d}" for n in range(200)]
    a = [pseudonymise(i, KEY_A) for i in ids]
    assert a == [pseudonymise(i, KEY_A) for i in ids]  # the same id, the same key: the same pseudonym
    assert len(set(a)) == len(ids)
    b = [pseudonymise(i, KEY_B) for i in ids]
    assert not set(a) & set(b)  # another key: unrelated pseudonyms
    plain = {hashlib.sha256(i.encode()).hexdigest() for i in ids}
    assert not plain & set(a)  # not the unkeyed hash, which anyone can recompute from a guessed id
    assert all(i not in p for i, p in zip(ids, a, strict=True))


@pytest.mark.parametrize("bad", [("", KEY_A), (None, KEY_A), ("MRN1", b"short"), ("MRN1", "a" * 32)])
def test_pseudonymise_refuses_bad_arguments(bad):
    with pytest.raises(TypeError, match="patient_id|key"):
        pseudonymise(*bad)


def test_mask_identifiers_replaces_spans_by_their_kind():
    text = "seen by Dr. Okafor on 12/03/2024 ; call (555) 123-4567 ; mrn 12345678 ; bp 120/80 , dose 500 mg"
    assert mask_identifiers(text) == (
        "seen by Dr. [NAME] on [DATE] ; call [PHONE] ; mrn [ID] ; bp 120/80 , dose 500 mg"
    )
    with pytest.raises(TypeError, match="text"):
        find_identifiers(b"bytes")


def _null_masker(text):
    """Null baseline: hide every whitespace-separated token that holds a digit or a capital letter."""
    return [(m.start(), m.end(), "ANY") for m in re.finditer(r"\S*[0-9A-Z]\S*", text)]


def _interval(counts, metric):
    """Point value and 95 % percentile-bootstrap interval (over notes) of precision or recall."""
    tp, fp, fn = counts.T
    other = fp if metric == "precision" else fn
    res = stats.bootstrap((tp, other), lambda a, b, axis=-1: a.sum(axis) / (a.sum(axis) + b.sum(axis)),
                          paired=True, vectorized=True, n_resamples=2000, method="percentile",
                          random_state=np.random.default_rng(0))  # fmt: skip
    return tp.sum() / (tp.sum() + other.sum()), res.confidence_interval.low, res.confidence_interval.high


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_masking_precision_and_recall_beat_the_null_masker(seed):
    notes = make_planted_notes(N_NOTES, seed=seed)
    ours, null = masking_counts(notes, find_identifiers), masking_counts(notes, _null_masker)
    for metric in ("precision", "recall"):
        value, low, high = _interval(ours, metric)
        null_value, null_low, null_high = _interval(null, metric)
        print(f"seed {seed} {metric}: {value:.3f} [{low:.3f}, {high:.3f}]; "
              f"null {null_value:.3f} [{null_low:.3f}, {null_high:.3f}]")  # fmt: skip
        assert low > null_high, (metric, (value, low, high), (null_value, null_low, null_high))
    assert _interval(ours, "recall")[1] >= 0.9


@pytest.mark.parametrize("seed", [1, 2])
def test_the_masker_fails_only_in_its_documented_ways(seed):
    notes = make_planted_notes(N_NOTES, seed=seed)
    missed, over = set(), set()
    for text, planted in zip(notes.texts, notes.spans, strict=True):
        found = find_identifiers(text)
        for start, end, kind in planted:
            if not any(s <= start and end <= e for s, e, _ in found):
                missed.add((kind, text[start:end] == text[start:end].lower()))
        for start, end, kind in found:
            if not any(s <= start and end <= e for s, e, _ in planted):
                over.add((kind, text[start].isupper()))
    assert missed == {("NAME", True)}  # only names in lower case are missed (and some are)
    assert over == {("NAME", True)}  # only capitalised phrases are over-masked, as names


def test_planted_spans_point_at_the_identifiers():
    notes = make_planted_notes(50, seed=3)
    assert len(notes.texts) == 50 and all(len(s) == 3 for s in notes.spans)
    kinds = {kind for spans in notes.spans for _, _, kind in spans}
    assert kinds == {"NAME", "DATE", "PHONE", "ID", "EMAIL"}
    for text, spans in zip(notes.texts, notes.spans, strict=True):
        for start, end, _ in spans:
            assert text[start:end].strip() == text[start:end] and text[start:end]
    assert make_planted_notes(50, seed=3) == notes
    with pytest.raises(ValueError, match="n"):
        make_planted_notes(0)


def test_the_patient_id_emails_and_lettered_record_numbers_are_masked():
    from xaihealth.serving.privacy import mask_pseudonym

    text = "P000123 seen; p000123 again (not XP000123), MRN AB-123456, family a.b+c@mail.example.org ."
    masked = "[ID] seen; [ID] again (not XP000123), MRN [ID], family [EMAIL] ."
    assert mask_identifiers(text, "p000123") == masked
    assert mask_identifiers(text).startswith("P000123 seen")  # without the id, the regexes miss it
    pseudonym = pseudonymise("AB-771", KEY_A)
    text = "ab-771 came back, AB-772 did not"
    assert mask_pseudonym(text, pseudonym, KEY_A) == "[ID] came back, AB-772 did not"


@pytest.mark.parametrize(("patient", "text", "masked"), [
    ("AB.771", "ab.771 seen today; AB.7712 not", "[ID] seen today; AB.7712 not"),
    ("P_000123", "(P_000123) seen, XP_000123 not", "([ID]) seen, XP_000123 not"),
    ("MRN 4412", "mrn 4412 rang; MRN 44120 did not", "[ID] rang; MRN 44120 did not"),
    ("AB-771", "AB-771. ab771 and AB 771 are other ids", "[ID]. ab771 and AB 771 are other ids"),
    ("Smith123", "seen smith123, smith1234 not", "seen [ID], smith1234 not"),
])  # fmt: skip
def test_the_patients_own_id_is_masked_alike_in_notes_and_comments(patient, text, masked):
    """The note knows the id, the comment only its pseudonym (R18b: AB.771, P_000123, MRN 4412 leaked)."""
    from xaihealth.serving.privacy import mask_patient, mask_pseudonym

    assert mask_patient(text, patient) == masked
    assert mask_pseudonym(text, pseudonymise(patient, KEY_A), KEY_A) == masked
    assert mask_pseudonym(text, pseudonymise(patient, KEY_B), KEY_A) == text  # another key: no match


def test_planted_ids_of_one_to_three_words_are_masked_in_comments():
    """Ids of 1-3 words joined by punctuation or a space, in any case, planted among look-alikes."""
    from xaihealth.serving.privacy import mask_pseudonym

    rng = np.random.default_rng(7)
    for _ in range(200):
        words = ["".join(rng.choice(list("ABCXYZ0123456789"), int(rng.integers(1, 5))))
                 for _ in range(int(rng.integers(1, 4)))]  # fmt: skip
        patient = "".join(w + str(rng.choice(list(".-_/ :"))) for w in words[:-1]) + words[-1]
        written = "".join(c.lower() if rng.random() < 0.5 else c for c in patient)
        other = patient + "9"  # a longer id that contains the patient's: not the patient
        text = f"({written}) rang, re {other}; ok."
        assert mask_pseudonym(text, pseudonymise(patient, KEY_A), KEY_A) == f"([ID]) rang, re {other}; ok."
    four = "NHS 943 476 5919"  # four words: the documented limit (the ID pattern still masks the number)
    assert mask_pseudonym(four, pseudonymise(four, KEY_A), KEY_A) == four
    assert mask_identifiers(four) == "NHS [ID]"


@pytest.mark.parametrize(("text", "masked"), [
    ("mrn: ab-123456 .", "mrn: [ID] ."),
    ("MRN AB-123456 .", "MRN [ID] ."),
    ("hospital number rx12345", "hospital number [ID]"),
    ("record no. a1234567", "record no. [ID]"),
    ("Mrn: Ab-123456", "Mrn: [ID]"),
])  # fmt: skip
def test_lettered_record_numbers_are_masked_in_any_case(text, masked):
    assert mask_identifiers(text) == masked


def test_pseudonyms_ignore_case_and_surrounding_space_as_the_lab_does():
    assert pseudonymise(" ab-771 ", KEY_A) == pseudonymise("AB-771", KEY_A) != pseudonymise("AB-772", KEY_A)
