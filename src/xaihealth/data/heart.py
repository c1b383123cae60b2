"""UCI Heart Disease (Cleveland, Hungary, Switzerland, VA Long Beach), cleaned for modelling.

See ``datasets/heart_disease_uci.md`` for the datasheet. The loader keeps every quirk of the data that
the course teaches about, and only makes the coding explicit:

- ``disease`` is the binary target (``num`` > 0); ``num`` (0-4) is kept;
- ``male``, ``fbs`` and ``exang`` are 0/1 floats (NaN where missing);
- ``cp``, ``restecg``, ``slope`` and ``thal`` are pandas categoricals;
- ``site`` names the hospital and is *not* a feature.

Cholesterol is recorded as 0 for every Swiss patient and for 49 VA patients: a missing value written as
a number. ``chol_zero_as_missing=True`` turns those zeros into NaN; by default they stay, as they came.

The loader refuses a CSV whose sha256 is not :data:`SHA256` (the one in the datasheet), so that a lesson
never teaches from a silently edited or truncated copy of the data.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence

import pandas as pd

from xaihealth import validate
from xaihealth.data.paths import datasets_dir

FILE = "heart_disease_uci.csv"
SHA256 = "574f2fa2b43012fa25fca4fcdb36bd7c6bccdd0af4242f6c0e4c8633c5a072ae"  # as in heart_disease_uci.md
SITES = ("Cleveland", "Hungary", "Switzerland", "VA Long Beach")
FEATURES = (
    "age", "male", "cp", "trestbps", "chol", "fbs", "restecg", "thalch", "exang", "oldpeak", "slope", "ca",
    "thal",
)  # fmt: skip
CATEGORICAL = ("cp", "restecg", "slope", "thal")
_CATEGORIES = {
    "cp": ["typical angina", "atypical angina", "non-anginal", "asymptomatic"],
    "restecg": ["normal", "st-t abnormality", "lv hypertrophy"],
    "slope": ["upsloping", "flat", "downsloping"],
    "thal": ["normal", "fixed defect", "reversable defect"],
}


def load_heart_disease(
    *, chol_zero_as_missing: bool = False, sites: Sequence[str] | None = None
) -> pd.DataFrame:
    """Load the 920-patient UCI heart disease table.

    Parameters
    ----------
    chol_zero_as_missing:
        If True, the cholesterol value 0 (a missing-value code, not a measurement) becomes NaN.
    sites:
        Keep only these sites (any of :data:`SITES`); ``None`` keeps all four.

    Returns
    -------
    DataFrame with columns ``id, site, *FEATURES, num, disease``, one row per patient.
    """
    validate.boolean("chol_zero_as_missing", chol_zero_as_missing)
    if sites is not None:
        if isinstance(sites, str) or not isinstance(sites, Sequence) or len(sites) == 0:
            raise ValueError(f"sites={sites!r} must be a non-empty list of site names from {list(SITES)}")
        for site in sites:
            validate.one_of("sites", site, SITES)

    raw = pd.read_csv(io.BytesIO(verified_bytes()))
    df = pd.DataFrame(
        {
            "id": raw["id"].astype(int),
            "site": pd.Categorical(raw["dataset"], categories=list(SITES)),
            "age": raw["age"].astype(float),
            "male": (raw["sex"] == "Male").astype(float),
            "cp": pd.Categorical(raw["cp"], categories=_CATEGORIES["cp"]),
            "trestbps": raw["trestbps"].astype(float),
            "chol": raw["chol"].astype(float),
            "fbs": _bool_column(raw["fbs"]),
            "restecg": pd.Categorical(raw["restecg"], categories=_CATEGORIES["restecg"]),
            "thalch": raw["thalch"].astype(float),
            "exang": _bool_column(raw["exang"]),
            "oldpeak": raw["oldpeak"].astype(float),
            "slope": pd.Categorical(raw["slope"], categories=_CATEGORIES["slope"]),
            "ca": raw["ca"].astype(float),
            "thal": pd.Categorical(raw["thal"], categories=_CATEGORIES["thal"]),
            "num": raw["num"].astype(int),
        }
    )
    df["disease"] = (df["num"] > 0).astype(int)
    if chol_zero_as_missing:
        df.loc[df["chol"] == 0, "chol"] = float("nan")
    if sites is not None:
        df = df[df["site"].isin(list(sites))].reset_index(drop=True)
    return df


class DataChecksumError(ValueError):
    """A shipped data file does not match the sha256 in its datasheet."""


def verified_bytes() -> bytes:
    """The bytes of the shipped CSV, after checking their sha256 against :data:`SHA256`.

    The file is read once: the bytes that are hashed are the bytes that are parsed, so no edit can slip in
    between the check and the read. Nothing is cached (hashing 80 kB is cheap), so an edit made while a
    kernel runs is caught at the next load. Raises :class:`DataChecksumError` naming the file and how to
    restore it.
    """
    path = datasets_dir() / FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"data file {str(path)!r} is missing; restore it with `git checkout -- datasets/{FILE}`"
        )
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != SHA256:
        raise DataChecksumError(
            f"data file {str(path)!r} has sha256 {actual}, but the datasheet (heart_disease_uci.md) "
            f"says {SHA256}: the file was edited or damaged, and the lessons' numbers would not hold. "
            f"Restore it with `git checkout -- datasets/{FILE}`."
        )
    return data


def _bool_column(values: pd.Series) -> pd.Series:
    mapping = {True: 1.0, False: 0.0, "TRUE": 1.0, "FALSE": 0.0, "True": 1.0, "False": 0.0}
    return values.map(mapping).astype(float)
