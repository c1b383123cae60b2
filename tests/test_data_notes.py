"""Synthetic clinical notes: the planted rule, fixed positions, concept labels, tokenizer, patching pairs.

The rule and the drug classes are re-written here from the datasheet (not imported from the module), so a
mistake in the generator's tables or logic cannot also hide in the test.
"""

from __future__ import annotations

import numpy as np
import pytest

from xaihealth.data import make_notes
from xaihealth.data.notes import (
    PAIR_KINDS,
    POSITIONS,
    SEQ_LEN,
    NotesTokenizer,
    answer_rule,
    in_heldout,
    make_patching_pairs,
)

# Independent copy of the datasheet's drug classes.
CLASSES = {
    "penicillins": ["amoxicillin", "penicillin", "ampicillin", "piperacillin"],
    "nsaids": ["ibuprofen", "naproxen", "diclofenac", "ketorolac"],
    "macrolides": ["azithromycin", "clarithromycin", "erythromycin"],
    "fluoroquinolones": ["ciprofloxacin", "levofloxacin", "moxifloxacin", "ofloxacin"],
}
UNRELATED = ["paracetamol", "metformin", "omeprazole", "atorvastatin", "lisinopril", "amlodipine",
             "levothyroxine", "salbutamol"]  # fmt: skip
CLASS_OF = {d: i for i, (name, drugs) in enumerate(CLASSES.items()) for d in [name, *drugs]}
CLASS_OF.update({d: 4 for d in UNRELATED})
SEVERITY = {"mild": 0, "severe": 1, "anaphylaxis": 2}


def parse(text: str) -> dict:
    """Read a note back into its slots, by word position (the text has no <bos>: position - 1)."""
    w = text.split(" ")
    return {
        "negated": (w[1], w[2]) in {("has", "no"), ("denies", "any")},
        "affirmed": (w[1], w[2]) in {("has", "an"), ("reports", "an")},
        "allergen": w[5],
        "severity": w[8],
        "finding": w[11],
        "drug": w[14],
        "answer": w[16],
        "words": w,
    }


def expected_answer(note: dict) -> str:
    a, d = note["allergen"], note["drug"]
    covered = d == a or d in CLASSES.get(a, []) or (CLASS_OF[a] == CLASS_OF[d] and CLASS_OF[d] < 4)
    return "avoid" if covered and not note["negated"] else "safe"


@pytest.fixture(scope="module")
def notes():
    return make_notes(3000, seed=11)


def test_every_label_follows_the_planted_rule(notes):
    for text, label in zip(notes.texts, notes.labels, strict=True):
        note = parse(text)
        assert note["negated"] != note["affirmed"], text
        assert note["answer"] == expected_answer(note), text
        assert label == (note["answer"] == "avoid"), text
        assert answer_rule(note["negated"], note["allergen"], note["drug"]) == label


def test_fixed_length_and_fixed_positions(notes):
    tok = NotesTokenizer()
    assert notes.tokens.shape == (3000, SEQ_LEN) and notes.tokens.dtype == np.int64
    assert all(len(t.split(" ")) == SEQ_LEN - 1 for t in notes.texts)
    col = {name: notes.tokens[:, pos] for name, pos in POSITIONS.items()}
    assert (col["bos"] == tok.bos_id).all()
    assert (col["query"] == tok.token_id(":")).all()
    assert set(tok.decode(col["answer"]).split()) == {"safe", "avoid"}
    assert set(tok.decode(col["allergen"]).split()) <= set(CLASS_OF) - set(UNRELATED)
    assert set(tok.decode(col["prescribed"]).split()) <= set(CLASS_OF) - set(CLASSES)
    # every template word outside the slots is identical across notes
    slots = {POSITIONS[k] for k in ("cue_verb", "cue_det", "allergen", "severity", "finding", "prescribed",
                                    "answer")}  # fmt: skip
    fixed = [p for p in range(SEQ_LEN) if p not in slots]
    assert (notes.tokens[:, fixed] == notes.tokens[0, fixed]).all()


def test_tokens_are_the_encoded_texts(notes):
    tok = NotesTokenizer()
    for i in range(0, 3000, 97):
        assert tok.encode(notes.texts[i]) == notes.tokens[i].tolist()


def test_balanced_and_both_cues_needed(notes):
    y = notes.labels
    assert y.sum() == 1500  # exactly n // 2 avoid
    parsed = [parse(t) for t in notes.texts]
    negated = np.array([p["negated"] for p in parsed])
    same = np.array([CLASS_OF[p["allergen"]] == CLASS_OF[p["drug"]] for p in parsed])
    # a rule that ignores negation, or one that ignores the drug, is far from perfect
    assert 0.7 < ((same).astype(int) == y).mean() < 0.9
    assert 0.7 < ((~negated).astype(int) == y).mean() < 0.9
    # the trap: negated allergy to the class of the prescribed drug is common and always safe
    trap = negated & same
    assert trap.mean() > 0.15 and (y[trap] == 0).all()
    # class-name allergens are present and follow the rule too
    is_class = np.array([p["allergen"] in CLASSES for p in parsed])
    assert 0.15 < is_class.mean() < 0.35 and y[is_class].mean() > 0.3


def test_concepts_align_with_tokens(notes):
    tok = NotesTokenizer()
    c = notes.concepts
    for name in ("drug_class", "negation", "severity", "allergen_is_class"):
        assert c[name].shape == notes.tokens.shape and c[name].dtype == np.int64
    for i in range(0, 3000, 53):
        words = tok.decode(notes.tokens[i], skip_special=False).split(" ")
        note = parse(notes.texts[i])
        for p, w in enumerate(words):
            assert c["drug_class"][i, p] == CLASS_OF.get(w, -1), (p, w)
            assert c["severity"][i, p] == SEVERITY.get(w, -1), (p, w)
            assert c["negation"][i, p] == int(note["negated"] and 2 <= p <= 9), (p, w)
        assert c["allergen_is_class"][i, POSITIONS["allergen"]] == int(note["allergen"] in CLASSES)
        assert (np.delete(c["allergen_is_class"][i], POSITIONS["allergen"]) == -1).all()
        # every statement, negated or not, has a severity word
        assert note["severity"] in SEVERITY


def test_severity_is_independent_of_negation_and_label():
    """The old generator wrote severity 'none' exactly when negated: a shortcut. Now it carries nothing."""
    big = make_notes(20000, seed=21)
    sev = big.concepts["severity"][:, POSITIONS["severity"]]
    negated = big.concepts["negation"][:, POSITIONS["cue_det"]] == 1
    assert set(np.unique(sev)) == {0, 1, 2}
    for group in (negated, ~negated, big.labels == 1, big.labels == 0):
        freq = np.bincount(sev[group], minlength=3) / group.sum()
        assert np.abs(freq - [0.5, 0.3, 0.2]).max() < 0.02, freq


def test_same_seed_is_byte_identical_and_other_seed_differs():
    a, b, other = make_notes(500, seed=3), make_notes(500, seed=3), make_notes(500, seed=4)
    assert a.tokens.tobytes() == b.tokens.tobytes() and a.texts == b.texts
    assert a.labels.tobytes() == b.labels.tobytes()
    assert all(a.concepts[k].tobytes() == b.concepts[k].tobytes() for k in a.concepts)
    assert a.tokens.tobytes() != other.tokens.tobytes()
    p, q = make_patching_pairs(50, seed=1), make_patching_pairs(50, seed=1)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(p, q, strict=True))


def test_odd_n_and_single_note():
    assert len(make_notes(1, seed=0)) == 1
    odd = make_notes(7, seed=2)
    assert odd.labels.sum() in (3, 4)


def test_tokenizer_vocabulary_round_trip_and_unknown_word():
    tok, again = NotesTokenizer(), NotesTokenizer()
    assert tok.words == again.words and tok.words[:3] == ("<pad>", "<bos>", "<eos>")
    assert tok.vocab == {w: i for i, w in enumerate(tok.words)}
    assert set(CLASS_OF) | set(SEVERITY) | {"safe", "avoid"} <= set(tok.vocab)
    assert "none" not in tok.vocab and len(tok) == 64
    text = "patient denies any allergy to nsaids , reaction mild . findings rash . prescribe naproxen : safe"
    ids = tok.encode(text)
    assert ids[0] == tok.bos_id and len(ids) == SEQ_LEN
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_special=False) == "<bos> " + text
    assert tok.encode(text, bos=False) == ids[1:]
    with pytest.raises(ValueError, match="aspirin"):
        tok.encode("patient has an allergy to aspirin")
    with pytest.raises(ValueError, match="ids"):
        tok.decode([1, 2, len(tok)])
    with pytest.raises(TypeError, match="text"):
        tok.encode(["patient"])


def test_patching_pairs_differ_only_at_the_allergen_and_flip_the_answer():
    tok = NotesTokenizer()
    pairs = make_patching_pairs(400, seed=5)
    clean, corrupt, clean_ans, corrupt_ans = pairs  # unpacks as a 4-tuple
    assert clean.shape == corrupt.shape == (400, POSITIONS["answer"])
    differs = clean != corrupt
    assert differs[:, POSITIONS["allergen"]].all()
    assert not np.delete(differs, POSITIONS["allergen"], axis=1).any()
    assert (clean[:, -1] == tok.token_id(":")).all()
    assert (clean_ans == tok.token_id("avoid")).all() and (corrupt_ans == tok.token_id("safe")).all()
    for c, k in zip(clean[::7], corrupt[::7], strict=True):
        note_c, note_k = parse(tok.decode(c) + " ?"), parse(tok.decode(k) + " ?")
        assert expected_answer(note_c) == "avoid" and expected_answer(note_k) == "safe"
        # drug swapped for a drug, class name for a class name
        assert (note_c["allergen"] in CLASSES) == (note_k["allergen"] in CLASSES)


@pytest.mark.parametrize("kind", ["negation", "drug"])
def test_negation_and_drug_swap_pairs(kind):
    tok = NotesTokenizer()
    clean, corrupt, clean_ans, corrupt_ans = make_patching_pairs(400, seed=6, kind=kind)
    differs = clean != corrupt
    where = list(PAIR_KINDS[kind])
    assert differs[:, where].any(axis=1).all()
    assert not np.delete(differs, where, axis=1).any()
    for c, k in zip(clean[::5], corrupt[::5], strict=True):
        note_c, note_k = parse(tok.decode(c) + " ?"), parse(tok.decode(k) + " ?")
        assert expected_answer(note_c) == "avoid" and expected_answer(note_k) == "safe"
        if kind == "negation":
            assert note_k["negated"] and note_c["drug"] == note_k["drug"]
            assert {("has", "an"): ("has", "no"), ("reports", "an"): ("denies", "any")}[
                tuple(note_c["words"][1:3])] == tuple(note_k["words"][1:3])  # fmt: skip
        else:
            assert CLASS_OF[note_k["drug"]] != CLASS_OF[note_k["allergen"]]
    if kind == "negation":  # "has an" -> "has no" differs only at position 3
        assert (differs[:, POSITIONS["cue_det"]]).all() and 0 < differs[:, POSITIONS["cue_verb"]].mean() < 1


def _key(text):
    w = text.split(" ")
    return (w[1], w[2], w[5], w[14])


def test_heldout_split_never_meets_the_training_split():
    train = make_notes(6000, seed=0, split="train")
    held = make_notes(2000, seed=1, split="heldout")
    assert not in_heldout(train.tokens).any() and in_heldout(held.tokens).all()
    assert not {_key(t) for t in train.texts} & {_key(t) for t in held.texts}
    assert not {r.tobytes() for r in train.tokens} & {r.tobytes() for r in held.tokens}
    assert held.labels.sum() == 1000 and train.labels.sum() == 3000  # balance kept by redrawing
    for t, y in zip(held.texts, held.labels, strict=True):
        assert (expected_answer(parse(t)) == "avoid") == y
    # the split is a fixed fraction of the combinations, with both answers and every slot value
    share = in_heldout(make_notes(20000, seed=5).tokens).mean()
    assert 0.18 < share < 0.3
    words = {w for t in held.texts for w in parse(t)["words"]}
    assert set(CLASS_OF) - set(UNRELATED) <= words | set(UNRELATED)
    neg = held.concepts["negation"][:, POSITIONS["cue_det"]] == 1
    assert 0.2 < neg.mean() < 0.5 and held.labels[neg].max() == 0
    pairs = make_patching_pairs(300, seed=3, kind="allergen", split="heldout")
    assert in_heldout(pairs.clean_tokens).all() and in_heldout(pairs.corrupt_tokens).all()


def test_strict_heldout_meaning_never_occurs_in_training():
    """split="heldout_strict" (review 05, finding 3): no training note has its (negation, allergen, drug)."""
    train = make_notes(20000, seed=0, split="train")
    strict = make_notes(500, seed=2, split="heldout_strict")
    assert in_heldout(strict.tokens, strict=True).all() and in_heldout(strict.tokens).all()
    assert not in_heldout(make_notes(500, seed=2, split="heldout").tokens, strict=True).all()

    negated = {NotesTokenizer().token_id(w) for w in ("no", "any")}

    def meaning(tokens):
        return {(int(r[3]) in negated, int(r[6]), int(r[15])) for r in tokens}

    assert not meaning(strict.tokens) & meaning(train.tokens)
    assert set(strict.labels.tolist()) == {0, 1}
    with pytest.raises(TypeError, match="strict"):
        in_heldout(strict.tokens, strict="yes")


def test_split_default_is_everything_and_in_heldout_rejects_bad_tokens():
    a, b = make_notes(300, seed=9), make_notes(300, seed=9, split="all")
    assert a.tokens.tobytes() == b.tokens.tobytes()
    with pytest.raises(ValueError, match="split"):
        make_notes(10, split="test")
    with pytest.raises(ValueError, match="kind"):
        make_patching_pairs(10, kind="severity")
    with pytest.raises(ValueError, match="tokens"):
        in_heldout(np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match="row 0"):
        in_heldout(np.ones((1, SEQ_LEN), dtype=np.int64))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n": 0}, "n"),
        ({"n": -5}, "n"),
        ({"n": 10, "seed": -1}, "seed"),
        ({"n": 10, "p_class_allergen": 1.5}, "p_class_allergen"),
        ({"n": 10, "p_negated_same_class": -0.1}, "p_negated_same_class"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_notes(**kwargs)


def test_bad_types_and_patching_pair_input():
    with pytest.raises(TypeError, match="n="):
        make_notes("100")
    with pytest.raises(TypeError, match="n="):
        make_notes(10.0)
    with pytest.raises(ValueError, match="n="):
        make_patching_pairs(0)
    with pytest.raises(ValueError, match="allergen"):
        answer_rule(False, "paracetamol", "ibuprofen")  # unrelated drugs are never allergens
    with pytest.raises(ValueError, match="drug"):
        answer_rule(False, "nsaids", "nsaids")  # a class name is never prescribed
