"""Generated notes with planted identifiers and their exact spans: the ground truth of the masking check.

Each note is a note of :func:`xaihealth.data.notes.make_notes` followed by a few sentences, in random order,
that carry identifiers (names, dates, phone numbers, record numbers such as ``AB-123456``, e-mail
addresses, in formats common in clinical
letters) and sentences that carry *look-alikes* that are not identifiers (a blood pressure "120/80", a
dose, a capitalised ward or hospital name). A tenth of the names are written in lower case, as they
sometimes are in typed notes. The span of every planted identifier is recorded, so that a masker's
character-level precision and recall can be computed (:func:`masking_counts`). See
``datasets/planted_pii_notes.md``. The names and numbers are invented; any resemblance is chance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from xaihealth import validate
from xaihealth.data.notes import make_notes

FIRST = ("Anna", "Omar", "Lucia", "Kwame", "Sofia", "Jonas", "Mei", "Ravi", "Ingrid", "Tomasz", "Amara",
         "Pierre", "Yuki", "Fatima", "Liam", "Elena")  # fmt: skip
LAST = ("Berg", "Okafor", "Rossi", "Mensah", "Novak", "Lindqvist", "Chen", "Sharma", "Dubois", "Kowalski",
        "Haddad", "Murphy", "Tanaka", "Silva", "O'Neill", "Fischer")  # fmt: skip
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")  # fmt: skip
LOWER_CASE_NAME_RATE = 0.1
#: (kind, sentence): ``{}`` is where the identifier goes.
CONTEXTS = {
    "NAME": ("seen by {} in clinic .", "patient {} attended with her son .", "letter copied to {} ."),
    "DATE": ("date of birth {} .", "admitted on {} .", "last seen {} ."),
    "PHONE": ("contact number {} .", "daughter can be reached on {} ."),
    "ID": ("mrn {} .", "record no. {} .", "hospital number {} ."),
    "EMAIL": ("family e-mail {} .", "results sent to {} ."),
}
LOOK_ALIKES = ("bp 120/80 on arrival .", "dose 500 mg twice daily .", "seen in the Emergency Department .",
               "transferred to ward 12 .", "hba1c 7.2 % in 2021 .", "referred to St Mary Hospital .",
               "weight 82 kg , temperature 38.5 .", "review in 6 weeks .")  # fmt: skip


@dataclass(frozen=True)
class PlantedNotes:
    """``texts[i]`` and its planted identifiers ``spans[i]``: ``(start, end, kind)`` character offsets."""

    texts: list[str]
    spans: list[list[tuple[int, int, str]]]


def _name(rng: np.random.Generator) -> tuple[str, str]:
    """(prefix, name): a titled surname, a full name, or (rarely) a full name in lower case."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    if rng.random() < LOWER_CASE_NAME_RATE:
        return "", f"{first} {last}".lower()
    if rng.random() < 0.5:
        return f"{rng.choice(['Dr.', 'Dr', 'Mrs', 'Mr', 'Ms'])} ", last
    return "", f"{first} {last}"


def _date(rng: np.random.Generator) -> str:
    d, m, y = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1930, 2026))
    return [f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d} {MONTH_NAMES[m - 1]} {y}",
            f"{MONTH_NAMES[m - 1][:3]} {d}, {y}", f"{d}.{m}.{y % 100:02d}"][int(rng.integers(5))]  # fmt: skip


def _phone(rng: np.random.Generator) -> str:
    digits = "".join(str(int(x)) for x in rng.integers(0, 10, 10))
    return [f"+44 {digits[:2]} {digits[2:6]} {digits[6:]}", f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
            f"{digits[:3]}-{digits[3:6]}-{digits[6:]}",
            "0" + " ".join(digits[i : i + 2] for i in range(1, 9, 2)) + " " + digits[9] + "0",
            "0" + digits[1:]][int(rng.integers(5))]  # fmt: skip


def _record_number(rng: np.random.Generator) -> str:
    digits = "".join(str(int(x)) for x in rng.integers(0, 10, int(rng.integers(7, 11))))
    letters = "".join(chr(65 + int(x)) for x in rng.integers(0, 26, 2))
    return [digits, f"A{digits[:7]}", f"{digits[:3]} {digits[3:6]} {digits[6:]}",
            f"{letters}-{digits[:6]}"][int(rng.integers(4))]  # fmt: skip


def _email(rng: np.random.Generator) -> str:
    first, last = str(rng.choice(FIRST)).lower(), str(rng.choice(LAST)).lower().replace("'", "")
    return f"{first}.{last}{int(rng.integers(1, 99))}@{rng.choice(['example.org', 'mail.example.com'])}"


def make_planted_notes(n: int, seed: int = 0, *, identifiers: int = 3, look_alikes: int = 2) -> PlantedNotes:
    """``n`` notes, each with ``identifiers`` planted identifiers and ``look_alikes`` non-identifiers."""
    n = validate.integer("n", n, minimum=1, maximum=100_000)
    seed = validate.integer("seed", seed, minimum=0)
    identifiers = validate.integer("identifiers", identifiers, minimum=0, maximum=8)
    look_alikes = validate.integer("look_alikes", look_alikes, minimum=0, maximum=len(LOOK_ALIKES))
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    base = make_notes(n, seed=seed).texts
    make = {"DATE": _date, "PHONE": _phone, "ID": _record_number, "EMAIL": _email}
    texts, spans = [], []
    for note in base:
        parts: list[tuple[str, str, str, str]] = []  # (before, identifier, after, kind)
        for kind in rng.choice(list(CONTEXTS), size=identifiers):
            context = str(rng.choice(CONTEXTS[kind]))
            prefix, value = _name(rng) if kind == "NAME" else ("", make[kind](rng))
            before, after = context.split("{}")
            parts.append((before + prefix, value, after, str(kind)))
        parts += [(str(s), "", "", "") for s in rng.choice(LOOK_ALIKES, size=look_alikes, replace=False)]
        text, note_spans = note, []
        for i in rng.permutation(len(parts)):
            before, value, after, kind = parts[i]
            text += " " + before
            if value:
                note_spans.append((len(text), len(text) + len(value), kind))
            text += value + after
        texts.append(text)
        spans.append(note_spans)
    return PlantedNotes(texts, spans)


def masking_counts(
    notes: PlantedNotes, find: Callable[[str], Sequence[tuple[int, int, str]]]
) -> np.ndarray:
    """Per note, character counts ``(true positive, false positive, false negative)`` of ``find``'s spans.

    A character is positive when it lies in a span; the kind (NAME, DATE, ...) is not compared, since a
    record number masked as a phone number is still masked. Shape ``(n, 3)``.
    """
    rows = []
    for text, truth in zip(notes.texts, notes.spans, strict=True):
        planted, found = np.zeros(len(text), bool), np.zeros(len(text), bool)
        for start, end, _ in truth:
            planted[start:end] = True
        for start, end, _ in find(text):
            found[start:end] = True
        rows.append(((planted & found).sum(), (found & ~planted).sum(), (planted & ~found).sum()))
    return np.asarray(rows, dtype=np.int64)
