"""Checkers for lab 00, *Clever Hans in the clinic*.

Each checker runs the student's function on small frames it builds with a planted answer (several of them,
varying every parameter the exercise has) and compares with a reference, exactly where the draw is fixed.
The references (:mod:`xaihealth.instructor.references.clever_hans`, instructor-only, replayed in a student
release) let the checkers grade properties the student cannot see; they are deliberately plain.

The leave-one-site-out checkers hand the student a ``make_model`` that builds a *spy*: a small
scikit-learn classifier (impute, scale, logistic regression) that records which rows each model instance
was fitted on and predicted on. So the checker can tell a held-out site that leaked into training, a model
reused across sites, or inputs that were scaled or imputed on all sites before splitting, from a correct
answer — whichever way the student splits (boolean masks, ``LeaveOneGroupOut``) or builds fresh models
(``make_model()`` each time or ``sklearn.base.clone``).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xaihealth.checks._core import describe, exercise
from xaihealth.checks._reference import references
from xaihealth.data.heart import FEATURES, load_heart_disease

refs = references("clever_hans")  # the reference implementations, or their replay

# ---------------------------------------------------------------------------------------- planted data


def _planted_frame(seed: int = 7, n: int = 400, target: str = "disease") -> pd.DataFrame:
    """Three sites; 'a' goes missing mostly in sick patients, 'b' never, 'c' uses -1 as a code at East,
    'd' goes missing mostly in healthy patients, 'e' uses 999 as a code in sick patients. With another
    ``target`` name, a column 'disease' of coin flips is added as a decoy."""
    rng = np.random.default_rng(seed)
    site = rng.choice(["North", "South", "East"], size=n, p=[0.5, 0.3, 0.2])
    disease = (rng.random(n) < np.where(site == "East", 0.8, 0.4)).astype(int)
    num = disease * rng.integers(1, 5, size=n)
    a = rng.normal(size=n)
    a[(disease == 1) & (rng.random(n) < 0.6)] = np.nan
    b = rng.normal(size=n)
    c = rng.normal(size=n)
    c[(site == "East") & (rng.random(n) < 0.9)] = -1.0
    d = rng.normal(size=n)
    d[(disease == 0) & (rng.random(n) < 0.5)] = np.nan
    e = rng.normal(size=n)
    e[(disease == 1) & (rng.random(n) < 0.3)] = 999.0
    e[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame({"site": site, "a": a, "b": b, "c": c, "d": d, "e": e, "num": num, target: disease})
    if target != "disease":  # decoys: code that ignores `target` and reads 'disease' or 'num' is wrong
        frame["disease"] = (rng.random(n) < 0.5).astype(int)
        frame["num"] = frame["disease"] * rng.integers(1, 5, size=n)
    return frame


def _site_frame(
    seed: int, names: Sequence[str], categorical: bool
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Sites of unequal size and prevalence; x2's effect reverses at the last site; x3 has gaps."""
    rng = np.random.default_rng(seed)
    n = 150 * len(names)
    sites = pd.Series(
        rng.choice(list(names), size=n, p=np.linspace(2, 1, len(names)) / np.linspace(2, 1, len(names)).sum())
    )
    last = np.asarray(sites == names[-1])
    X = pd.DataFrame(
        {"x1": rng.normal(size=n), "x2": 20 * rng.normal(size=n), "x3": rng.normal(5, 2, size=n)}
    )
    X.loc[rng.random(n) < np.where(last, 0.5, 0.1), "x3"] = np.nan
    offset = np.asarray(pd.Series(sites).map({s: 1.2 * k - 1.0 for k, s in enumerate(names)}), dtype=float)
    logit = X["x1"] + np.where(last, -1.5, 1.5) * X["x2"] / 20 + offset
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int))
    if categorical:
        sites = sites.astype(pd.CategoricalDtype(list(names)))
    return X, y, sites


# -------------------------------------------------------------------------------------------- the spy


def _row_keys(X: Any) -> list[bytes]:
    """One key per row that survives a cast to float32 and a reordering of the columns (both harmless when
    done the same way to training and test rows), but not a change of any value (scaling, imputing)."""
    values = np.asarray(X, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"the model was given an array of shape {values.shape}, not a table")
    values = np.ascontiguousarray(np.sort(values.astype(np.float32), axis=1))
    return [row.tobytes() for row in values]


def _spy_factory(C: float) -> tuple[Callable[[], BaseEstimator], list[tuple[str, int, list[bytes]]]]:
    """A ``make_model`` whose models log ``(event, model serial number, row keys)`` for every fit and
    prediction."""
    log: list[tuple[str, int, list[bytes]]] = []
    serials = itertools.count()

    class SpyModel(ClassifierMixin, BaseEstimator):
        def __init__(self, C: float = 1.0) -> None:
            self.C = C

        def fit(self, X: Any, y: Any) -> SpyModel:
            if not hasattr(
                self, "spy_serial_"
            ):  # one number per object: a refit keeps it, a clone gets its own
                self.spy_serial_ = next(serials)
            log.append(("fit", self.spy_serial_, _row_keys(X)))
            self.pipeline_ = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(C=self.C))
            self.pipeline_.fit(np.asarray(X, dtype=float), np.asarray(y))
            self.classes_ = self.pipeline_.classes_
            return self

        def _log_predict(self, X: Any) -> np.ndarray:
            log.append(("predict", getattr(self, "spy_serial_", -1), _row_keys(X)))
            return np.asarray(X, dtype=float)

        def predict_proba(self, X: Any) -> np.ndarray:
            return self.pipeline_.predict_proba(self._log_predict(X))

        def predict_log_proba(self, X: Any) -> np.ndarray:
            return self.pipeline_.predict_log_proba(self._log_predict(X))

        def decision_function(self, X: Any) -> np.ndarray:
            return self.pipeline_.decision_function(self._log_predict(X))

        def predict(self, X: Any) -> np.ndarray:
            return self.pipeline_.predict(self._log_predict(X))

    return (lambda: SpyModel(C=C)), log


def _audit_fits(ex: Any, log: list[tuple[str, int, list[bytes]]], X: pd.DataFrame, sites: pd.Series) -> None:
    """Each site: one fresh model fitted on exactly the other sites' rows, unchanged, then asked about the
    site's rows."""
    keys = _row_keys(X)
    known = set(keys)
    site_values = np.asarray(sites)
    names = list(pd.unique(sites))
    fits = [(i, rows) for event, i, rows in log if event == "fit"]
    ex.expect(fits, "fit a model for each held-out site: no model built with make_model() was fitted")
    ex.expect(
        all(set(rows) <= known for _, rows in fits),
        "the rows you fitted on are not rows of X: do not scale, impute or otherwise transform X yourself "
        "before splitting (statistics computed on all sites leak the held-out site); pass the raw columns "
        "and let make_model() do the preprocessing inside each fit",
    )
    instances = [i for i, _ in fits]
    ex.expect(
        len(set(instances)) == len(instances),
        "fit each model once: build a fresh model for every held-out site (make_model() or "
        "sklearn.base.clone), do not refit one object, whose last fit would be all that is left of it",
    )
    ex.expect(
        len(fits) == len(names),
        f"fit exactly one model per site ({len(names)} sites, you fitted {len(fits)} models)",
    )
    for site in names:
        held = site_values == site
        train = sorted(k for k, h in zip(keys, held, strict=True) if not h)
        test = {k for k, h in zip(keys, held, strict=True) if h}
        match = [i for i, rows in fits if sorted(rows) == train]
        leak = [rows for _, rows in fits if set(rows) & test and len(rows) >= len(train)]
        ex.expect(
            match or not leak,
            f"the model for held-out site {site!r} was trained on some of that site's patients: exclude "
            "the held-out site from training",
        )
        ex.expect(
            match,
            f"no model was fitted on exactly the patients of the sites other than {site!r}: train on all "
            "other sites (and only them), each patient once",
        )
        asked = {k for event, i, rows in log if event == "predict" and i in match for k in rows}
        ex.expect(
            test <= asked,
            f"score the held-out site {site!r} with the model trained without it (yours did not predict "
            "that site's patients with it)",
        )


def _same_frame(student: object, reference: pd.DataFrame, atol: float = 1e-9) -> bool:
    if not isinstance(student, pd.DataFrame):
        return False
    if set(student.index) != set(reference.index) or not set(reference.columns) <= set(student.columns):
        return False
    aligned = student.loc[reference.index, reference.columns].astype(float)
    return bool(
        np.allclose(aligned.to_numpy(), reference.astype(float).to_numpy(), atol=atol, equal_nan=True)
    )


def _same_series(student: object, reference: pd.Series, atol: float = 1e-9) -> bool:
    if not isinstance(student, pd.Series) or set(student.index) != set(reference.index):
        return False
    return bool(np.allclose(student.loc[reference.index].astype(float), reference.astype(float), atol=atol))


# ------------------------------------------------------------------------------------------------ checkers


def check_site_audit(site_audit: Callable[[pd.DataFrame, Sequence[str]], pd.DataFrame]) -> None:
    """Exercise 1: one row per site with ``n``, ``prevalence`` and the share missing of each feature."""
    with exercise("Exercise 1 (per-site audit table)") as ex:
        planted = _planted_frame()
        out = ex.call(site_audit, planted.copy(), ["a", "b", "c"])
        ex.returns(out, pd.DataFrame, "a pandas DataFrame with one row per site")
        ex.expect(
            set(out.index) == {"North", "South", "East"}, "index the rows by the value of the 'site' column"
        )
        ex.expect(
            {"n", "prevalence", "a", "b", "c"} <= set(out.columns),
            "give the columns 'n', 'prevalence' and one column per feature, named like the feature",
        )
        ref = refs.reference_site_audit(planted, ["a", "b", "c"])
        ex.expect(
            np.array_equal(out.loc[ref.index, "n"].to_numpy(), ref["n"].to_numpy()),
            "'n' should count the patients (rows) of each site, missing values or not",
        )
        ex.expect(
            np.allclose(out.loc[ref.index, "prevalence"].astype(float), ref["prevalence"]),
            "'prevalence' is the share of patients with disease == 1 at the site (not the mean of 'num')",
        )
        ex.expect(
            _same_frame(out[["a", "b", "c"]], ref[["a", "b", "c"]]),
            "each feature column is the share of the site's patients whose value is missing (NaN), "
            "computed within the site",
        )
        other = _planted_frame(seed=11, n=300)
        out_other = ex.call(site_audit, other.copy(), ["e", "d"])
        ex.expect(
            _same_frame(out_other, refs.reference_site_audit(other, ["e", "d"])),
            "right for features ['a', 'b', 'c'] but not for ['e', 'd'] of another frame: use the `features` "
            "you are given, and count only NaN as missing (a sentinel such as 999 is a value here)",
        )
        real = load_heart_disease(chol_zero_as_missing=True)
        out_real = ex.call(site_audit, real.copy(), list(FEATURES))
        ex.expect(
            _same_frame(out_real, refs.reference_site_audit(real, FEATURES)),
            "your table is right on the practice frame but not on the heart disease data: check categorical "
            "sites (use observed=True when grouping) and that every feature gets a column",
        )


def check_missing_code_auc(missing_code_auc: Callable[..., pd.Series]) -> None:
    """Exercise 2: direction-free AUC of 'missing or sentinel' for each feature."""
    with exercise("Exercise 2 (label-revealing missing codes)") as ex:
        planted = _planted_frame()
        features = ["a", "b", "c", "d"]
        out = ex.call(missing_code_auc, planted.copy(), features, "disease", {"c": -1.0})
        ref = refs.reference_missing_code_auc(planted, features, "disease", {"c": -1.0})
        ex.expect(
            isinstance(out, pd.Series) and set(out.index) == set(features),
            f"return a pandas Series indexed by feature name, one value per feature (yours: {describe(out)})",
        )
        ex.expect(
            np.all((out.astype(float) >= 0.5 - 1e-12) & (out.astype(float) <= 1 + 1e-12)),
            "values must lie in [0.5, 1]: a code that marks *healthy* patients is as revealing as one that "
            "marks sick patients, so use max(AUC, 1 - AUC)",
        )
        ex.expect(
            abs(float(out["b"]) - 0.5) < 1e-12,
            "a feature that is never missing carries no information through its missingness: score 0.5",
        )
        ex.expect(
            abs(float(out["c"]) - ref["c"]) < 1e-6
            or not _same_series(out.drop("c"), ref.drop("c"), atol=1e-6),
            "feature 'c' codes missing values as -1: count a value equal to its sentinel as missing",
        )
        ex.expect(
            _same_series(out, ref, atol=1e-6),
            "score the 0/1 indicator 'missing or equal to the sentinel' with the AUC, "
            "not the feature's values",
        )
        ex.expect(list(out.index) == list(ref.index), "sort the Series from the most to the least revealing")
        other = _planted_frame(seed=5, n=350, target="outcome")
        args = (["e", "a", "c", "b"], "outcome", {"e": 999.0, "c": -1.0, "d": 0.0})  # 'd' is not asked for
        out_other = ex.call(missing_code_auc, other.copy(), *args)
        ref_other = refs.reference_missing_code_auc(other, *args)
        ex.expect(
            _same_series(out_other, ref_other, atol=1e-6) and list(out_other.index) == list(ref_other.index),
            "right on the first frame but not on a second one with the target column 'outcome' and the "
            "sentinels {'e': 999.0, 'c': -1.0, 'd': 0.0}: use the `target` and the `sentinels` you are "
            "given, "
            "score exactly the `features` asked for (a value is coded missing when it is NaN *or* equals its "
            "feature's sentinel)",
        )
        real = load_heart_disease()
        out_real = ex.call(missing_code_auc, real.copy(), list(FEATURES), "disease", {"chol": 0})
        ex.expect(
            _same_series(
                out_real, refs.reference_missing_code_auc(real, FEATURES, "disease", {"chol": 0}), atol=1e-6
            ),
            "right on the practice frame but not on the heart disease data: do categorical columns with "
            "NaN work in your code?",
        )


_LOSO_CASES = (  # seed, site names, categorical sites, C of the spy's logistic regression
    (3, ("North", "South", "East"), False, 1.0),
    (4, ("Lyon", "Lille", "Nantes", "Brest"), True, 0.05),
)


def check_leave_one_site_out(leave_one_site_out: Callable[..., pd.Series]) -> None:
    """Exercise 3: AUC on each site of a fresh model trained on the other sites."""
    with exercise("Exercise 3 (leave-one-site-out evaluation)") as ex:
        for seed, names, categorical, C in _LOSO_CASES:
            X, y, sites = _site_frame(seed, names, categorical)
            make_model, log = _spy_factory(C)
            out = ex.call(leave_one_site_out, make_model, X.copy(), y.copy(), sites.copy())
            ex.expect(
                isinstance(out, pd.Series) and set(out.index) == set(names),
                f"return a pandas Series indexed by site, one AUC per held-out site (for the sites "
                f"{list(names)}; yours: {describe(out)})",
            )
            _audit_fits(ex, log, X, sites)
            ref = refs.reference_leave_one_site_out(_spy_factory(C)[0], X, y, sites)
            ex.expect(
                float(out[names[-1]]) < 0.6 < float(ref.drop(names[-1]).min()),
                f"{names[-1]!r} reverses the effect of x2, so a model trained on the other sites must do "
                "poorly there: compute the AUC on the held-out site only",
            )
            ex.expect(
                _same_series(out, ref, atol=1e-6),
                f"for the sites {list(names)}: score each held-out site with roc_auc_score(y_true, y_score) "
                "on predict_proba(...)[:, 1] (the probability, not the predicted class; AUC, not accuracy; "
                "one AUC per site, not pooled over sites)",
            )


def check_held_out_calibration(held_out_calibration: Callable[..., pd.DataFrame]) -> None:
    """Exercise 4: per held-out site, observed prevalence, mean predicted risk and their difference."""
    with exercise("Exercise 4 (calibration-in-the-large per held-out site)") as ex:
        for seed, names, categorical, C in _LOSO_CASES:
            X, y, sites = _site_frame(seed + 10, names, categorical)
            make_model, log = _spy_factory(C)
            out = ex.call(held_out_calibration, make_model, X.copy(), y.copy(), sites.copy())
            ex.returns(out, pd.DataFrame, "a pandas DataFrame with one row per site")
            ex.expect(
                set(out.index) == set(names) and {"observed", "predicted", "citl"} <= set(out.columns),
                f"index the rows by site ({list(names)}) and give the columns 'observed', 'predicted', "
                "'citl' "
                f"(yours: index {list(out.index)[:5]}, columns {list(out.columns)[:5]})",
            )
            _audit_fits(ex, log, X, sites)
            ref = refs.reference_held_out_calibration(_spy_factory(C)[0], X, y, sites)
            ex.expect(
                _same_frame(out[["observed"]], ref[["observed"]]),
                "'observed' is the share of the held-out site's patients with y == 1",
            )
            ex.expect(
                _same_frame(out[["predicted"]], ref[["predicted"]], atol=1e-6),
                "'predicted' is the mean of predict_proba(...)[:, 1] over the held-out site's patients, from "
                "the model trained on the other sites (a probability, not the predicted class)",
            )
            ex.expect(
                _same_frame(out[["citl"]], ref[["citl"]], atol=1e-6),
                "'citl' is observed − predicted (positive when the model under-predicts the site's risk)",
            )


def _complete(ex: Any, answer: object, name: str, words: int, topics: Callable[[str], list]) -> None:
    """A written judgement is complete: a string of ``words`` words or more, and each ``(ok, hint)`` of
    ``topics(lowercase text)`` holds. Only completeness: a person marks the answer with the rubric."""
    ex.expect(isinstance(answer, str), f'write your answer as a string, {name} = """..."""'
                                       f" (yours: {describe(answer)})")  # fmt: skip
    count = len(re.findall(r"[A-Za-zÀ-ÿ]+", answer))
    ex.expect(count >= words, f"write a full answer, {words} words or more (yours has {count})")
    for ok, hint in topics(answer.lower()):
        ex.expect(ok, hint)


def _not_graded(title: str, covered: str) -> None:
    """What a complete written answer prints instead of a success mark (a wrong judgement can be complete)."""
    print(f"{title}: NOT GRADED — your answer is complete ({covered}); whether it is right is marked by a "
          "person with the rubric")  # fmt: skip


def check_answer_5(answer: object) -> None:
    """Exercise 5: a written judgement. Checks only that it is there and addresses each site; the answer
    itself is marked by a person with the rubric, so a complete answer gets no success mark."""

    def topics(text: str) -> list:
        sites = ("cleveland", "hungary", "switzerland", "va")
        missing = [s for s in sites if not re.search(rf"\b{s}\b", text)]
        counts = "interval" in text and re.search(r"\b(healthy|n\s*=|patients?)\b", text)
        return [
            (not missing, f"give a verdict for every site; not mentioned: {missing}"),
            (counts, "base each verdict on the interval and on how many patients of each class the site has"),
        ]

    with contextlib.redirect_stdout(io.StringIO()), exercise("Exercise 5 (is the difference real?)") as ex:
        _complete(ex, answer, "answer_5", 60, topics)
    _not_graded("Exercise 5 (is the difference real?)", "every site, intervals, class counts")


def check_answer_6(answer: object) -> None:
    """Exercise 6: a written decision on Hungary's risk levels. Checks only that it is complete (Hungary's
    calibration with its interval, the ranking, a step before deployment); marked with the rubric."""

    def topics(text: str) -> list:
        return [
            ("hungary" in text, "answer for Hungary, the hospital that asks"),
            (re.search(r"calibrat|citl|predicted|over-?predict", text) and "interval" in text,
             "read Hungary's calibration row: observed against predicted risk, with its interval"),
            (re.search(r"\bauc\b|\brank|discriminat|\bgains?\b|\bprior\b", text),
             "say whether the model still ranks Hungary's patients (held-out AUC, gain over the prior)"),
            (re.search(r"recalibrat|\blocal|threshold|\brefer", text),
             "say what you would do before deployment (and with the 0.5 referral threshold)"),
        ]  # fmt: skip

    with contextlib.redirect_stdout(io.StringIO()), exercise("Exercise 6 (a risk level for Hungary)") as ex:
        _complete(ex, answer, "answer_6", 60, topics)
    _not_graded("Exercise 6 (a risk level for Hungary)", "calibration and its interval, ranking, a next step")
