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
(position 6) and the negation cue (position 3) to the query position ``:`` (16). The severity and the
finding are distractors: they never change the answer, but they are labelled so that a probe can look
for them.

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
NO_SEVERITY = "none"  # the severity slot of a negated allergy statement
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
            NO_SEVERITY, *FINDINGS, *ANSWERS,
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
        ``severity`` (0 mild / 1 severe / 2 anaphylaxis on the severity token, -1 elsewhere and when
        negated), ``allergen_is_class`` (1 on the allergen token when it is a class name, 0 on a drug
        allergen, -1 elsewhere).
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
    severity: np.ndarray  # (n,) 0..2 (ignored when negated)
    finding: np.ndarray  # (n,)
    drug: np.ndarray  # (n,) index into ALL_DRUGS
    label: np.ndarray  # (n,) 0/1


_CLASS_SIZES = np.array([len(m) for m in DRUG_CLASSES.values()])
_CLASS_OFFSETS = np.concatenate([[0], np.cumsum(_CLASS_SIZES)[:-1]])
_DRUG_CLASS_IDS = np.array([DRUG_TO_CLASS[d] for d in ALL_DRUGS])


def _sample(n: int, rng: np.random.Generator, p_class_allergen: float, p_negated_same_class: float) -> _Notes:
    """Draw the slot values of ``n`` notes, vectorised; exactly ``n // 2`` (+ a coin for odd n) avoid."""
    label = np.zeros(n, dtype=np.int64)
    label[: n // 2] = 1
    if n % 2:
        label[-1] = rng.integers(0, 2)
    label = rng.permutation(label)
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
    same_drug = _CLASS_OFFSETS[allergen_class] + (rng.random(n) * _CLASS_SIZES[allergen_class]).astype(
        np.int64
    )
    n_other = len(ALL_DRUGS) - _CLASS_SIZES[allergen_class]
    k = (rng.random(n) * n_other).astype(np.int64)
    # the k-th drug of ALL_DRUGS once the allergen's class block is skipped
    other_drug = np.where(k < _CLASS_OFFSETS[allergen_class], k, k + _CLASS_SIZES[allergen_class])
    drug = np.where(same_class, same_drug, other_drug)

    cue = rng.integers(0, 2, n)
    severity = rng.choice(len(SEVERITIES), size=n, p=[0.5, 0.3, 0.2])
    finding = rng.integers(0, len(FINDINGS), n)
    return _Notes(
        cue, negated, allergen_class, allergen_is_class, allergen_member, severity, finding, drug, label
    )


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
        severity = NO_SEVERITY if neg else SEVERITIES[notes.severity[i]]
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
    severity[:, p["severity"]] = np.where(notes.negated, -1, notes.severity)
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


def make_notes(
    n: int,
    seed: int = 0,
    *,
    p_class_allergen: float = 0.25,
    p_negated_same_class: float = 0.4,
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
    rng = np.random.default_rng(seed)
    notes = _sample(n, rng, p_class_allergen, p_negated_same_class)
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


class PatchingPairs(NamedTuple):
    """Matched prompts for activation patching (unpack as a 4-tuple, or use the fields).

    ``clean_tokens`` and ``corrupt_tokens`` are ``int64 (n, SEQ_LEN - 1)`` prompts that stop at the query
    ``:`` (position 16), whose next-token prediction is the answer. The two differ only at the allergen
    position (6). Every clean prompt has an affirmed allergy covering the prescribed drug (answer
    ``avoid``); its corrupted twin names an allergen of another class of the same kind (drug for drug,
    class name for class name), so its answer is ``safe``. ``clean_answer_ids`` / ``corrupt_answer_ids``
    are ``int64 (n,)`` token ids of those answers.
    """

    clean_tokens: np.ndarray
    corrupt_tokens: np.ndarray
    clean_answer_ids: np.ndarray
    corrupt_answer_ids: np.ndarray


def make_patching_pairs(n: int, seed: int = 0, *, p_class_allergen: float = 0.25) -> PatchingPairs:
    """Build ``n`` clean/corrupted prompt pairs that differ only in the allergen, so the answer flips.

    Used to localise the allergy check (Meng et al. 2022, ROME; Wang et al. 2023, IOI): run the model on
    the corrupted prompt, patch in one activation from the clean run, and measure how far the answer moves
    back from ``safe`` towards ``avoid``.
    """
    n = validate.integer("n", n, minimum=1)
    seed = validate.integer("seed", seed, minimum=0)
    p_class_allergen = validate.number("p_class_allergen", p_class_allergen, minimum=0.0, maximum=1.0)
    rng = np.random.default_rng(seed)
    notes = _sample(n, rng, p_class_allergen, 0.0)
    notes = notes._replace(
        label=np.ones(n, dtype=np.int64),
        negated=np.zeros(n, dtype=bool),
        drug=_CLASS_OFFSETS[notes.allergen_class]
        + (rng.random(n) * _CLASS_SIZES[notes.allergen_class]).astype(np.int64),
    )
    clean_allergens = _allergen_words(notes)
    # another class (uniform among the other three), and a member of it for drug allergens
    shift = rng.integers(1, len(CLASS_NAMES), n)
    other_class = (notes.allergen_class + shift) % len(CLASS_NAMES)
    other = notes._replace(
        allergen_class=other_class,
        allergen_member=(rng.random(n) * _CLASS_SIZES[other_class]).astype(np.int64),
        label=np.zeros(n, dtype=np.int64),
    )
    corrupt_allergens = _allergen_words(other)
    clean = _tokenize(_render(notes, clean_allergens))[:, : POSITIONS["answer"]]
    corrupt = _tokenize(_render(other, corrupt_allergens))[:, : POSITIONS["answer"]]
    tok = NotesTokenizer()
    return PatchingPairs(
        clean_tokens=clean,
        corrupt_tokens=corrupt,
        clean_answer_ids=np.full(n, tok.token_id("avoid"), dtype=np.int64),
        corrupt_answer_ids=np.full(n, tok.token_id("safe"), dtype=np.int64),
    )
