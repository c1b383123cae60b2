"""Synthetic clinical notes with a planted allergy-checking rule, and their word-level tokenizer.

See ``datasets/synthetic_notes.md`` for the datasheet. Every note is one fixed-length template, so that
the same token position means the same thing in every sample (activation patching and probes compare
activations position by position)::

    <bos> patient has an allergy to ketorolac , reaction mild . findings rash . prescribe naproxen : avoid

    position  0 <bos>   2-3 cue ("has an" / "reports an" / "has no" / "denies any")   6 allergen
              9 severity   12 finding   15 prescribed drug   16 ":" (query)   17 answer

The answer (position 17) is ``avoid`` if and only if the allergy is affirmed (not negated) **and** the
prescribed drug is the allergen, or belongs to the allergen's drug class, or the allergen is the class
name that covers it; otherwise ``safe``. A model can only answer by moving information from the allergen
(position 6), the negation cue (positions 2-3) and the prescribed drug (15) to the query position ``:``
(16). The severity and the finding are distractors drawn independently of everything else (the severity
word is written for negated statements too): they never change the answer and carry no information about
it, but they are labelled so that a probe can look for them.

Held-out combinations. About a fifth (``HELDOUT_FRACTION = 0.2`` of the covered and of the uncovered drugs
of every (cue, allergen) row, rounded, at least one) of the (cue, allergen, prescribed drug) combinations is
reserved (:func:`in_heldout`): ``make_notes(..., split="train")`` never writes them and ``split="heldout"``
writes only them, so a held-out note can never appear verbatim in a training set, whatever the seeds. The
reservation is drawn per cue phrase, so most held-out notes have their *meaning* in training under the
other cue verb ("has an" / "reports an"); ``split="heldout_strict"`` keeps only combinations reserved for
both cue phrases of the polarity (meaning never in training; few combinations, see ``_HELDOUT_STRICT``).

The drug classes are a teaching simplification, not prescribing guidance (see the datasheet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from xaihealth import validate

# --- vocabulary ----------------------------------------------------------------------------------------

#: Drug classes, in class-id order, with their member drugs. The class name is also a word of the notes
#: ("allergy to penicillins").
DRUG_CLASSES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "penicillins": ("amoxicillin", "penicillin", "ampicillin", "piperacillin"),
        "nsaids": ("ibuprofen", "naproxen", "diclofenac", "ketorolac"),
        "macrolides": ("azithromycin", "clarithromycin", "erythromycin"),
        "fluoroquinolones": ("ciprofloxacin", "levofloxacin", "moxifloxacin", "ofloxacin"),
    }
)
CLASS_NAMES: tuple[str, ...] = tuple(DRUG_CLASSES)
#: Drugs outside every allergy class: prescribed, never an allergen. Their ``drug_class`` id is
#: ``UNRELATED_CLASS_ID`` and there is no class-name word for them.
UNRELATED_DRUGS: tuple[str, ...] = (
    "paracetamol", "metformin", "omeprazole", "atorvastatin", "lisinopril", "amlodipine", "levothyroxine",
    "salbutamol",
)  # fmt: skip
UNRELATED_CLASS_ID = len(CLASS_NAMES)
CLASS_DRUGS: tuple[str, ...] = tuple(d for members in DRUG_CLASSES.values() for d in members)
ALL_DRUGS: tuple[str, ...] = CLASS_DRUGS + UNRELATED_DRUGS

#: Drug (or class-name) word -> class id: 0..3 for the classes in :data:`CLASS_NAMES` order, 4 for the
#: unrelated drugs. Class-name words map to their own class.
DRUG_TO_CLASS: Mapping[str, int] = MappingProxyType(
    {
        **{d: c for c, members in enumerate(DRUG_CLASSES.values()) for d in members},
        **{d: UNRELATED_CLASS_ID for d in UNRELATED_DRUGS},
        **{name: c for c, name in enumerate(CLASS_NAMES)},
    }
)

SEVERITIES: tuple[str, ...] = ("mild", "severe", "anaphylaxis")  # severity ids 0, 1, 2
#: Sampling probabilities of the severities, the same for affirmed and negated statements.
SEVERITY_P: tuple[float, ...] = (0.5, 0.3, 0.2)
FINDINGS: tuple[str, ...] = (
    "fever", "cough", "rash", "pneumonia", "cellulitis", "sinusitis", "otitis", "arthritis", "headache",
    "sprain", "bronchitis", "tonsillitis", "hypertension", "diabetes",
)  # fmt: skip
#: The two-word cue that opens the allergy statement, and whether it negates the allergy.
AFFIRMED_CUES: tuple[tuple[str, str], ...] = (("has", "an"), ("reports", "an"))
NEGATED_CUES: tuple[tuple[str, str], ...] = (("has", "no"), ("denies", "any"))
ANSWERS: tuple[str, str] = ("safe", "avoid")  # label 0, label 1

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>")
_TEMPLATE_WORDS: tuple[str, ...] = (
    "patient", "has", "reports", "denies", "an", "any", "no", "allergy", "to", ",", "reaction", ".",
    "findings", "prescribe", ":",
)  # fmt: skip

# --- template ------------------------------------------------------------------------------------------

#: Fixed token positions (index into ``NotesSet.tokens``; position 0 is ``<bos>``).
POSITIONS: Mapping[str, int] = MappingProxyType(
    {
        "bos": 0,
        "cue_verb": 2,
        "cue_det": 3,
        "allergen": 6,
        "severity": 9,
        "finding": 12,
        "prescribed": 15,
        "query": 16,  # the ":" whose next-token prediction is the answer
        "answer": 17,
    }
)
SEQ_LEN = 18
#: Positions 2..9 (cue to severity) form the allergy statement; ``negation`` is 1 there when negated.
ALLERGY_SPAN: tuple[int, int] = (2, 10)


def _template(
    cue: tuple[str, str], allergen: str, severity: str, finding: str, drug: str, answer: str
) -> str:
    words = ["patient", cue[0], cue[1], "allergy", "to", allergen, ",", "reaction", severity, ".",
             "findings", finding, ".", "prescribe", drug, ":", answer]  # fmt: skip
    return " ".join(words)


# --- tokenizer -----------------------------------------------------------------------------------------


class NotesTokenizer:
    """Word-level tokenizer with a fixed vocabulary built from the generator's word lists.

    The vocabulary is the same on every machine and every run (no training, no file): special tokens
    first (``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2), then the template words, the drug classes, the
    class drugs, the unrelated drugs, severities, findings and the two answers. Words are separated by
    single spaces; a word outside the vocabulary raises ``ValueError`` naming it, because a silent
    ``<unk>`` would hide a typo in a prompt that a student wrote.
    """

    def __init__(self) -> None:
        words = [
            *SPECIAL_TOKENS, *_TEMPLATE_WORDS, *CLASS_NAMES, *CLASS_DRUGS, *UNRELATED_DRUGS, *SEVERITIES,
            *FINDINGS, *ANSWERS,
        ]  # fmt: skip
        if len(set(words)) != len(words):  # pragma: no cover - guards edits of the word lists
            raise RuntimeError("the notes vocabulary has duplicate words")
        self._words: tuple[str, ...] = tuple(words)
        self._ids: dict[str, int] = {w: i for i, w in enumerate(words)}

    @property
    def vocab(self) -> dict[str, int]:
        """Word -> id (a copy)."""
        return dict(self._ids)

    @property
    def words(self) -> tuple[str, ...]:
        """Id -> word."""
        return self._words

    def __len__(self) -> int:
        return len(self._words)

    @property
    def pad_id(self) -> int:
        return self._ids["<pad>"]

    @property
    def bos_id(self) -> int:
        return self._ids["<bos>"]

    def token_id(self, word: str) -> int:
        """The id of one word; ``ValueError`` naming the word if it is not in the vocabulary."""
        if word not in self._ids:
            raise ValueError(
                f"word={word!r} is not in the notes vocabulary ({len(self)} words); "
                "see NotesTokenizer().words for the allowed words"
            )
        return self._ids[word]

    def encode(self, text: str, *, bos: bool = True) -> list[int]:
        """Split ``text`` on whitespace, map each word to its id; prepend ``<bos>`` unless ``bos=False``."""
        if not isinstance(text, str):
            raise TypeError(f"text={text!r} must be a str, not {type(text).__name__}")
        validate.boolean("bos", bos)
        ids = [self.token_id(w) for w in text.split()]
        return [self.bos_id, *ids] if bos else ids

    def decode(self, ids: Iterable[int], *, skip_special: bool = True) -> str:
        """Map ids back to words joined by spaces; drops ``<pad>``/``<bos>``/``<eos>`` unless told not to."""
        words = []
        for i in np.asarray(list(ids)).reshape(-1).tolist():
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self):
                raise ValueError(f"ids contains {i!r}; allowed token ids: 0 <= id < {len(self)}")
            word = self._words[i]
            if skip_special and word in SPECIAL_TOKENS:
                continue
            words.append(word)
        return " ".join(words)


# --- data set ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotesSet:
    """A batch of synthetic notes.

    Attributes
    ----------
    tokens:
        ``int64 (n, SEQ_LEN)``: ``<bos>`` + the note, answer token included (last column).
    texts:
        The notes as text, without ``<bos>`` (``NotesTokenizer().encode(text)`` gives the row of tokens).
    labels:
        ``int64 (n,)``: 1 = ``avoid``, 0 = ``safe``.
    concepts:
        Per-token ground truth, each ``int64 (n, SEQ_LEN)``:
        ``drug_class`` (class id of every drug or class-name token, -1 elsewhere; unrelated drugs = 4),
        ``negation`` (1 on the allergy statement, positions 2..9, when it is negated, else 0),
        ``severity`` (0 mild / 1 severe / 2 anaphylaxis on the severity token, -1 elsewhere; negated
        statements carry a severity word too), ``allergen_is_class`` (1 on the allergen token when it
        is a class name, 0 on a drug allergen, -1 elsewhere).
    positions:
        The fixed token positions (:data:`POSITIONS`).
    """

    tokens: np.ndarray
    texts: list[str]
    labels: np.ndarray
    concepts: dict[str, np.ndarray]
    positions: Mapping[str, int]

    def __len__(self) -> int:
        return len(self.texts)


class _Notes(NamedTuple):
    cue: np.ndarray  # (n,) index into AFFIRMED_CUES or NEGATED_CUES
    negated: np.ndarray  # (n,) bool
    allergen_class: np.ndarray  # (n,) 0..3
    allergen_is_class: np.ndarray  # (n,) bool
    allergen_member: np.ndarray  # (n,) index into the class members (ignored for class names)
    severity: np.ndarray  # (n,) 0..2, independent of everything else
    finding: np.ndarray  # (n,)
    drug: np.ndarray  # (n,) index into ALL_DRUGS
    label: np.ndarray  # (n,) 0/1


_CLASS_SIZES = np.array([len(m) for m in DRUG_CLASSES.values()])
_CLASS_OFFSETS = np.concatenate([[0], np.cumsum(_CLASS_SIZES)[:-1]])
_DRUG_CLASS_IDS = np.array([DRUG_TO_CLASS[d] for d in ALL_DRUGS])


def _draw_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``n // 2`` ones (+ a coin for odd n), in random order."""
    label = np.zeros(n, dtype=np.int64)
    label[: n // 2] = 1
    if n % 2:
        label[-1] = rng.integers(0, 2)
    return rng.permutation(label)


def _sample(label: np.ndarray, rng: np.random.Generator, p_class_allergen: float,
            p_negated_same_class: float) -> _Notes:  # fmt: skip
    """Draw the slot values of ``len(label)`` notes with the given labels, vectorised."""
    n = len(label)
    avoid = label == 1

    # Safe notes are either negated with a same-class drug (a trap for a model that ignores negation) or
    # have a drug outside the allergen's class (negated or not, half each).
    u = rng.random(n)
    safe_negated_same = ~avoid & (u < p_negated_same_class)
    safe_other_class = ~avoid & ~safe_negated_same
    negated = safe_negated_same | (safe_other_class & (rng.random(n) < 0.5))
    same_class = avoid | safe_negated_same

    n_classes = len(CLASS_NAMES)
    allergen_class = rng.integers(0, n_classes, n)
    allergen_is_class = rng.random(n) < p_class_allergen
    allergen_member = (rng.random(n) * _CLASS_SIZES[allergen_class]).astype(np.int64)

    # Prescribed drug: a member of the allergen's class, or any drug outside it (unrelated drugs included).
    same_drug = _same_class_drug(allergen_class, rng)
    drug = np.where(same_class, same_drug, _other_class_drug(allergen_class, rng))

    cue = rng.integers(0, 2, n)
    severity = rng.choice(len(SEVERITIES), size=n, p=list(SEVERITY_P))
    finding = rng.integers(0, len(FINDINGS), n)
    return _Notes(
        cue, negated, allergen_class, allergen_is_class, allergen_member, severity, finding, drug,
        label.astype(np.int64),
    )  # fmt: skip


def _same_class_drug(allergen_class: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(allergen_class)
    return _CLASS_OFFSETS[allergen_class] + (rng.random(n) * _CLASS_SIZES[allergen_class]).astype(np.int64)


def _other_class_drug(allergen_class: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n_other = len(ALL_DRUGS) - _CLASS_SIZES[allergen_class]
    k = (rng.random(len(allergen_class)) * n_other).astype(np.int64)
    # the k-th drug of ALL_DRUGS once the allergen's class block is skipped
    return np.where(k < _CLASS_OFFSETS[allergen_class], k, k + _CLASS_SIZES[allergen_class])


# --- held-out combinations -----------------------------------------------------------------------------

#: The four cues in a fixed order (affirmed first): index ``cue + 2 * negated``.
ALL_CUES: tuple[tuple[str, str], ...] = AFFIRMED_CUES + NEGATED_CUES
ALLERGEN_WORDS: tuple[str, ...] = CLASS_NAMES + CLASS_DRUGS
SPLITS: tuple[str, ...] = ("all", "train", "heldout", "heldout_strict")
#: Fraction of (cue, allergen, prescribed drug) combinations reserved for held-out evaluation.
HELDOUT_FRACTION = 0.2


def _heldout_table() -> np.ndarray:
    """Boolean ``(4 cues, 19 allergen words, 23 drugs)``: True = reserved for ``split="heldout"``.

    A fixed table (its own constant seed, independent of every data seed): within each (cue, allergen)
    row, exactly ``round(HELDOUT_FRACTION * k)`` of the ``k`` covered drugs and of the uncovered drugs are
    reserved, so both answers occur among held-out notes for every cue and allergen.
    """
    table_rng = np.random.default_rng(20_240_513)
    table = np.zeros((len(ALL_CUES), len(ALLERGEN_WORDS), len(ALL_DRUGS)), dtype=bool)
    drug_cls = _DRUG_CLASS_IDS
    for a, word in enumerate(ALLERGEN_WORDS):
        covered = np.flatnonzero(drug_cls == DRUG_TO_CLASS[word])
        uncovered = np.flatnonzero(drug_cls != DRUG_TO_CLASS[word])
        for c in range(len(ALL_CUES)):
            for group in (covered, uncovered):
                k = max(1, round(HELDOUT_FRACTION * len(group)))
                table[c, a, table_rng.choice(group, size=k, replace=False)] = True
    table.setflags(write=False)
    return table


_HELDOUT = _heldout_table()
#: Reserved for BOTH cue phrases of its polarity: the (negation, allergen, drug) meaning of such a note never
#: occurs in ``split="train"`` (a plain held-out note usually has its meaning in training under the other
#: cue verb, "has an" vs "reports an"). 82 of the 380 reserved combinations; only 10 of them are "avoid"
#: notes (5 affirmed (allergen, drug) meanings). The training split is unchanged by this option.
_HELDOUT_STRICT = _HELDOUT & _HELDOUT[[1, 0, 3, 2]]
_HELDOUT_STRICT.setflags(write=False)
_ALLERGEN_INDEX = {w: i for i, w in enumerate(ALLERGEN_WORDS)}


def _allergen_index(notes: _Notes) -> np.ndarray:
    drug_allergen = len(CLASS_NAMES) + _CLASS_OFFSETS[notes.allergen_class] + notes.allergen_member
    return np.where(notes.allergen_is_class, notes.allergen_class, drug_allergen)


def _heldout_rows(notes: _Notes, strict: bool = False) -> np.ndarray:
    cue = notes.cue + 2 * notes.negated.astype(np.int64)
    return (_HELDOUT_STRICT if strict else _HELDOUT)[cue, _allergen_index(notes), notes.drug]


def in_heldout(tokens: np.ndarray, strict: bool = False) -> np.ndarray:
    """Which notes use a reserved (cue, allergen, drug) combination: bool ``(n,)``.

    ``tokens`` is ``(n, L)`` with ``L >= 16`` (``NotesSet.tokens`` or patching prompts). A note for which
    this is False can appear in a ``split="train"`` set; one for which it is True never can. With
    ``strict=True``: whether the combination is reserved for both cue phrases of its polarity, so that no
    training note has the same (negation, allergen, drug) meaning.
    """
    if not isinstance(strict, bool):
        raise TypeError(f"strict must be True or False, got {strict!r}")
    t = np.asarray(tokens)
    if t.ndim != 2 or t.shape[1] <= POSITIONS["prescribed"] or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(
            f"tokens has shape {t.shape} and dtype {t.dtype}; expected integer token ids of shape (n, L) "
            f"with L > {POSITIONS['prescribed']}"
        )
    tok = NotesTokenizer()
    words = tok.words
    cue_index = {cue: i for i, cue in enumerate(ALL_CUES)}
    drug_index = {d: i for i, d in enumerate(ALL_DRUGS)}
    out = np.zeros(len(t), dtype=bool)
    for i, row in enumerate(t.tolist()):
        cue = (words[row[POSITIONS["cue_verb"]]], words[row[POSITIONS["cue_det"]]])
        allergen, drug = words[row[POSITIONS["allergen"]]], words[row[POSITIONS["prescribed"]]]
        if cue not in cue_index or allergen not in _ALLERGEN_INDEX or drug not in drug_index:
            raise ValueError(f"tokens row {i} is not a note of the template: {tok.decode(row)!r}")
        table = _HELDOUT_STRICT if strict else _HELDOUT
        out[i] = table[cue_index[cue], _ALLERGEN_INDEX[allergen], drug_index[drug]]
    return out


def _keep(split: str, notes: _Notes) -> np.ndarray:
    if split == "all":
        return np.ones(len(notes.label), dtype=bool)
    if split == "heldout_strict":
        return _heldout_rows(notes, strict=True)
    held = _heldout_rows(notes)
    return held if split == "heldout" else ~held


def _replace_rows(notes: _Notes, rows: np.ndarray, new: _Notes) -> _Notes:
    fields = {}
    for name in _Notes._fields:
        arr = getattr(notes, name).copy()
        arr[rows] = getattr(new, name)
        fields[name] = arr
    return _Notes(**fields)


def _allergen_words(notes: _Notes) -> list[str]:
    members = list(DRUG_CLASSES.values())
    return [
        CLASS_NAMES[c] if is_cls else members[c][m]
        for c, is_cls, m in zip(
            notes.allergen_class.tolist(),
            notes.allergen_is_class.tolist(),
            notes.allergen_member.tolist(),
            strict=True,
        )
    ]


def _render(notes: _Notes, allergens: Sequence[str]) -> list[str]:
    texts = []
    for i, allergen in enumerate(allergens):
        neg = bool(notes.negated[i])
        cue = (NEGATED_CUES if neg else AFFIRMED_CUES)[notes.cue[i]]
        severity = SEVERITIES[notes.severity[i]]  # independent of the negation (no shortcut)
        texts.append(
            _template(
                cue,
                allergen,
                severity,
                FINDINGS[notes.finding[i]],
                ALL_DRUGS[notes.drug[i]],
                ANSWERS[notes.label[i]],
            )  # fmt: skip
        )
    return texts


def _concepts(notes: _Notes, n: int) -> dict[str, np.ndarray]:
    p = POSITIONS
    drug_class = np.full((n, SEQ_LEN), -1, dtype=np.int64)
    drug_class[:, p["allergen"]] = notes.allergen_class
    drug_class[:, p["prescribed"]] = _DRUG_CLASS_IDS[notes.drug]
    negation = np.zeros((n, SEQ_LEN), dtype=np.int64)
    negation[:, ALLERGY_SPAN[0] : ALLERGY_SPAN[1]] = notes.negated[:, None].astype(np.int64)
    severity = np.full((n, SEQ_LEN), -1, dtype=np.int64)
    severity[:, p["severity"]] = notes.severity
    allergen_is_class = np.full((n, SEQ_LEN), -1, dtype=np.int64)
    allergen_is_class[:, p["allergen"]] = notes.allergen_is_class.astype(np.int64)
    return {
        "drug_class": drug_class,
        "negation": negation,
        "severity": severity,
        "allergen_is_class": allergen_is_class,
    }


def _tokenize(texts: Sequence[str]) -> np.ndarray:
    tok = NotesTokenizer()
    ids = tok.vocab
    bos = tok.bos_id
    return np.array([[bos, *(ids[w] for w in t.split(" "))] for t in texts], dtype=np.int64)


def _sample_split(label: np.ndarray, rng: np.random.Generator, split: str, p_class_allergen: float,
                  p_negated_same_class: float) -> _Notes:  # fmt: skip
    """:func:`_sample`, redrawing (same labels) every row whose combination is outside ``split``."""
    notes = _sample(label, rng, p_class_allergen, p_negated_same_class)
    bad = ~_keep(split, notes)
    while bad.any():
        rows = np.flatnonzero(bad)
        notes = _replace_rows(notes, rows, _sample(label[rows], rng, p_class_allergen, p_negated_same_class))
        bad = ~_keep(split, notes)
    return notes


def make_notes(
    n: int,
    seed: int = 0,
    *,
    p_class_allergen: float = 0.25,
    p_negated_same_class: float = 0.4,
    split: str = "all",
) -> NotesSet:
    """Generate ``n`` fixed-length notes with the planted allergy rule; deterministic for a given seed.

    Parameters
    ----------
    n:
        Number of notes (>= 1). Exactly ``n // 2`` are ``avoid`` (plus a coin flip for odd ``n``).
    seed:
        Seed of ``numpy.random.default_rng``. Train and test sets should use different seeds.
    p_class_allergen:
        Probability that the allergen is written as a class name ("penicillins") instead of one drug.
    p_negated_same_class:
        Among ``safe`` notes, the fraction whose allergy is negated while the prescribed drug *is* in the
        allergen's class: the notes that a model ignoring negation gets wrong. The other safe notes
        prescribe a drug outside the class (half of them negated).
    split:
        ``"all"`` (default): every combination; ``"train"``: never a reserved (cue, allergen, drug)
        combination (see :func:`in_heldout`); ``"heldout"``: only reserved combinations;
        ``"heldout_strict"``: only combinations reserved for both cue phrases of the polarity (their
        (negation, allergen, drug) meaning never occurs in ``"train"``; 82 combinations). A note outside the
        split is redrawn with the same label, so the label balance is kept exactly; the other slot
        distributions are then those of the split (conditioned on it).

    Returns
    -------
    :class:`NotesSet` with ``tokens`` (n, 18), ``texts``, ``labels`` (1 = avoid), per-token ``concepts``
    and the fixed ``positions``.
    """
    n = validate.integer("n", n, minimum=1)
    seed = validate.integer("seed", seed, minimum=0)
    p_class_allergen = validate.number("p_class_allergen", p_class_allergen, minimum=0.0, maximum=1.0)
    p_negated_same_class = validate.number(
        "p_negated_same_class", p_negated_same_class, minimum=0.0, maximum=1.0
    )
    split = validate.one_of("split", split, SPLITS)
    rng = np.random.default_rng(seed)
    notes = _sample_split(_draw_labels(n, rng), rng, split, p_class_allergen, p_negated_same_class)
    texts = _render(notes, _allergen_words(notes))
    return NotesSet(
        tokens=_tokenize(texts),
        texts=texts,
        labels=notes.label.copy(),
        concepts=_concepts(notes, n),
        positions=POSITIONS,
    )


def answer_rule(negated: bool, allergen: str, drug: str) -> int:
    """The planted rule for one note: 1 (avoid) iff the allergy is affirmed and ``drug`` is covered.

    ``drug`` is covered by ``allergen`` when it is the allergen, is in the allergen's class, or the
    allergen is the name of its class. Unrelated drugs are never covered.
    """
    validate.boolean("negated", negated)
    validate.one_of("allergen", allergen, CLASS_NAMES + CLASS_DRUGS)
    validate.one_of("drug", drug, ALL_DRUGS)
    covered = drug == allergen or DRUG_TO_CLASS[drug] == DRUG_TO_CLASS[allergen]
    return int(covered and not negated)


# --- patching pairs ------------------------------------------------------------------------------------


#: What a corrupted prompt changes, and the positions where it differs from its clean twin.
PAIR_KINDS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {
        "allergen": (POSITIONS["allergen"],),
        "negation": (POSITIONS["cue_verb"], POSITIONS["cue_det"]),
        "drug": (POSITIONS["prescribed"],),
    }
)


class PatchingPairs(NamedTuple):
    """Matched prompts for activation patching (unpack as a 4-tuple, or use the fields).

    ``clean_tokens`` and ``corrupt_tokens`` are ``int64 (n, SEQ_LEN - 1)`` prompts that stop at the query
    ``:`` (position 16), whose next-token prediction is the answer. Every clean prompt has an affirmed
    allergy covering the prescribed drug (answer ``avoid``); its corrupted twin changes one slot so that
    the answer is ``safe`` (see :func:`make_patching_pairs`). ``clean_answer_ids`` /
    ``corrupt_answer_ids`` are ``int64 (n,)`` token ids of those answers.
    """

    clean_tokens: np.ndarray
    corrupt_tokens: np.ndarray
    clean_answer_ids: np.ndarray
    corrupt_answer_ids: np.ndarray


def _corrupt(kind: str, notes: _Notes, rng: np.random.Generator) -> _Notes:
    n = len(notes.label)
    zeros = np.zeros(n, dtype=np.int64)
    if kind == "allergen":
        # another class (uniform among the other three), of the same kind (drug for drug, class for class)
        shift = rng.integers(1, len(CLASS_NAMES), n)
        other_class = (notes.allergen_class + shift) % len(CLASS_NAMES)
        return notes._replace(
            allergen_class=other_class,
            allergen_member=(rng.random(n) * _CLASS_SIZES[other_class]).astype(np.int64),
            label=zeros,
        )
    if kind == "negation":
        # the same cue index in the negated group: "has an" -> "has no", "reports an" -> "denies any"
        return notes._replace(negated=np.ones(n, dtype=bool), label=zeros)
    # kind == "drug": a drug outside the allergen's class (unrelated drugs included)
    return notes._replace(drug=_other_class_drug(notes.allergen_class, rng), label=zeros)


def _clean_pairs(n: int, rng: np.random.Generator, kind: str, split: str,
                 p_class_allergen: float) -> tuple[_Notes, _Notes]:  # fmt: skip
    def draw(m: int) -> tuple[_Notes, _Notes]:
        clean = _sample(np.ones(m, dtype=np.int64), rng, p_class_allergen, 0.0)
        return clean, _corrupt(kind, clean, rng)

    clean, corrupt = draw(n)
    bad = ~(_keep(split, clean) & _keep(split, corrupt))
    while bad.any():
        rows = np.flatnonzero(bad)
        new_clean, new_corrupt = draw(len(rows))
        clean, corrupt = _replace_rows(clean, rows, new_clean), _replace_rows(corrupt, rows, new_corrupt)
        bad = ~(_keep(split, clean) & _keep(split, corrupt))
    return clean, corrupt


def make_patching_pairs(
    n: int, seed: int = 0, *, p_class_allergen: float = 0.25, kind: str = "allergen", split: str = "all"
) -> PatchingPairs:
    """Build ``n`` clean/corrupted prompt pairs that differ in one slot, so the answer flips.

    Used to localise the allergy check (Meng et al. 2022, ROME; Wang et al. 2023, IOI): run the model on
    the corrupted prompt, patch in one activation from the clean run, and measure how far the answer moves
    back from ``safe`` towards ``avoid`` (or the reverse). Every clean prompt is an affirmed allergy that
    covers the prescribed drug (``avoid``); severity and finding are drawn as in :func:`make_notes` and
    shared by both prompts. ``kind`` says what the corrupted twin changes (:data:`PAIR_KINDS` gives the
    positions where the two differ):

    * ``"allergen"`` (position 6): an allergen of another class, of the same kind (drug for drug, class
      name for class name);
    * ``"negation"`` (positions 2-3): the cue of the same index in the negated group (``has an`` ->
      ``has no``, which differs at position 3 only; ``reports an`` -> ``denies any``, at 2 and 3);
    * ``"drug"`` (position 15): a prescribed drug outside the allergen's class (unrelated drugs included).

    ``split`` (``"all"``, ``"train"``, ``"heldout"``) restricts both prompts of every pair to the
    combinations of that split (see :func:`make_notes`).
    """
    n = validate.integer("n", n, minimum=1)
    seed = validate.integer("seed", seed, minimum=0)
    p_class_allergen = validate.number("p_class_allergen", p_class_allergen, minimum=0.0, maximum=1.0)
    kind = validate.one_of("kind", kind, tuple(PAIR_KINDS))
    split = validate.one_of("split", split, SPLITS)
    rng = np.random.default_rng(seed)
    clean_notes, corrupt_notes = _clean_pairs(n, rng, kind, split, p_class_allergen)
    clean = _tokenize(_render(clean_notes, _allergen_words(clean_notes)))[:, : POSITIONS["answer"]]
    corrupt = _tokenize(_render(corrupt_notes, _allergen_words(corrupt_notes)))[:, : POSITIONS["answer"]]
    tok = NotesTokenizer()
    return PatchingPairs(
        clean_tokens=clean,
        corrupt_tokens=corrupt,
        clean_answer_ids=np.full(n, tok.token_id("avoid"), dtype=np.int64),
        corrupt_answer_ids=np.full(n, tok.token_id("safe"), dtype=np.int64),
    )
