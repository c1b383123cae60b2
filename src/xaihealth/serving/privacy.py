"""Patient identifiers never reach the archive: keyed pseudonyms, and masking of identifiers in free text.

:func:`pseudonymise` replaces a patient id by HMAC-SHA256 under the service's secret key (RFC 2104): the
same id gives the same pseudonym under one key (so an auditor can follow one patient's records), another
key gives unrelated pseudonyms, and without the key a pseudonym cannot be recomputed from a guessed id
(a plain hash of a record number can: the space of record numbers is small enough to enumerate).
Pseudonymised data are still personal data under the GDPR (recital 26): the key must be kept apart.

:func:`mask_identifiers` replaces, in a free-text note, what looks like a person's name, a date, a phone
number, a record number or an e-mail address by ``[NAME]``, ``[DATE]``, ``[PHONE]``, ``[ID]``,
``[EMAIL]``; the request's own patient id is masked first (:func:`mask_patient`,
:func:`mask_pseudonym`). It is a set of regular
expressions, not a named-entity model: it finds names only after a title (Dr, Mrs, ...) or as two or more
capitalised words in a row, so it misses a name written in lower case and masks any capitalised phrase
(a ward, a hospital). ``tests/test_serving_privacy.py`` measures its precision and recall on identifiers
planted in generated notes (:mod:`xaihealth.serving.planted`); the figures hold for those notes only.
"""

from __future__ import annotations

import hashlib
import hmac
import re

WORD = r"[A-Z][a-z]*(?:['-]?[A-Z]?[a-z]+)*\b"  # a capitalised word: Berg, O'Neill, McDonald, Smith-Jones
MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
#: (kind, pattern): the identifier is group ``v`` of each pattern. Earlier kinds win an overlap.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("EMAIL", re.compile(r"(?P<v>\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b)")),
    ("DATE", re.compile(
        rf"(?P<v>\b\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}})\b|\b\d{{4}}-\d{{2}}-\d{{2}}\b"
        rf"|\b\d{{1,2}} {MONTHS} \d{{4}}\b|\b{MONTHS} \d{{1,2}},? \d{{4}}\b)"
    )),
    ("ID", re.compile(
        r"(?i:\b(?:mrn|record(?: no\.?| number)?|hospital (?:no\.?|number)|nhs(?: no\.?| number)?)"
        r"\s*[:#]?\s*)(?P<v>(?i:[A-Z]{0,2}\d[\d -]{4,12}\d|[A-Z]{1,3}[- ]?\d{4,}))\b"
    )),
    ("PHONE", re.compile(
        r"(?<![\w/])(?P<v>\(\d{2,4}\) ?\d{3,4}[ .-]\d{3,4}"
        r"|(?:\+\d{1,3}[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){2,4})(?![\w/])"
    )),
    ("ID", re.compile(r"(?P<v>\b\d{7,10}\b)")),
    ("NAME", re.compile(
        rf"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.? (?P<v>{WORD}(?: {WORD})?)|(?P<v2>\b{WORD}(?: {WORD})+)"
    )),
)
KINDS = ("NAME", "DATE", "PHONE", "ID", "EMAIL")
WORDS = re.compile(r"[^\W_]+")  # letters and digits: what white space and punctuation separate
MAX_ID_WORDS = 3  # mask_pseudonym tries runs of up to this many words (AB-771, P_000123, MRN 4412)


def pseudonymise(patient_id: str, key: bytes) -> str:
    """The keyed pseudonym of ``patient_id``: hex HMAC-SHA256 under ``key`` of the UTF-8 bytes of
    :func:`normalise_patient_id` (stripped, upper-cased)."""
    if not isinstance(patient_id, str) or not patient_id.strip():
        raise TypeError(f"patient_id={patient_id!r} must be a non-empty string")
    if not isinstance(key, bytes) or len(key) < 16:
        raise TypeError("key must be bytes of at least 16 characters (the service's pseudonymisation key)")
    return hmac.new(key, normalise_patient_id(patient_id).encode("utf-8"), hashlib.sha256).hexdigest()


def normalise_patient_id(patient_id: str) -> str:
    """``patient_id`` stripped of surrounding white space and upper-cased, as the lab (07) teaches, so
    that ``ab-771`` and ``AB-771`` are one patient. This changed the pseudonyms of lower-case ids: an
    archive keyed before it would need a migration (ours has no installed base)."""
    return patient_id.strip().upper()


def find_identifiers(text: str) -> list[tuple[int, int, str]]:
    """The spans ``(start, end, kind)`` that :func:`mask_identifiers` replaces, sorted, not overlapping."""
    if not isinstance(text, str):
        raise TypeError(f"text={text!r} must be a string, not {type(text).__name__}")
    taken: list[tuple[int, int, str]] = []
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(text):
            group = "v" if match.group("v") is not None else "v2"
            start, end = match.span(group)
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, kind))
    return sorted(taken)


def mask_patient(text: str, patient_id: str) -> str:
    """``text`` with every whole-token occurrence of ``patient_id`` (any case) replaced by ``[ID]``."""
    wanted = re.escape(normalise_patient_id(patient_id))
    return re.sub(rf"(?<![\w-]){wanted}(?![\w-])", "[ID]", text, flags=re.IGNORECASE)


def mask_pseudonym(text: str, pseudonym: str, key: bytes) -> str:
    """``text`` with every run of 1 to :data:`MAX_ID_WORDS` consecutive words (letters and digits,
    separated by white space or punctuation), taken as written with what separates them, whose pseudonym
    under ``key`` is ``pseudonym`` replaced by ``[ID]``: the patient's own id where only its pseudonym is
    known (feedback on an archived prediction). The run is normalised as :func:`pseudonymise` normalises
    an id, so ``ab.771`` is ``AB.771`` but not ``AB-771`` or ``AB771``, as in :func:`mask_patient`. At most
    :data:`MAX_ID_WORDS` HMACs per word; a match cannot be a false positive (but an id of more words is
    missed)."""
    words = [m.span() for m in WORDS.finditer(text)]
    out, last, i = [], 0, 0
    while i < len(words):
        start = words[i][0]
        for n in range(1, min(MAX_ID_WORDS, len(words) - i) + 1):
            end = words[i + n - 1][1]
            if hmac.compare_digest(pseudonymise(text[start:end], key), pseudonym):
                out += [text[last:start], "[ID]"]
                last, i = end, i + n
                break
        else:
            i += 1
    return "".join(out + [text[last:]])


def mask_identifiers(text: str, patient_id: str | None = None) -> str:
    """``text`` with ``patient_id`` (if given; :func:`mask_patient`) and then every span of
    :func:`find_identifiers` replaced by ``[KIND]``."""
    if patient_id is not None:
        text = mask_patient(text, patient_id)
    out, last = [], 0
    for start, end, kind in find_identifiers(text):
        out += [text[last:start], f"[{kind}]"]
        last = end
    return "".join(out + [text[last:]])
