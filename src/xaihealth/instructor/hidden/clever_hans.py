"""Hidden tests for lab 00 (site audit, missing-code AUC, leave-one-site-out AUC and calibration).

Other planted frames (seeds, sizes, a sentinel feature asked for in the audit), other features, targets and
sentinels, and sites other than the public ones: two sites, and five categorical sites with another C.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from xaihealth.checks.clever_hans import (
    _audit_fits,
    _planted_frame,
    _same_frame,
    _same_series,
    _site_frame,
    _spy_factory,
)
from xaihealth.instructor.hidden import hidden_references
from xaihealth.instructor.integrity import exercise

refs = hidden_references("clever_hans")

_SITES = (  # seed, site names, categorical sites, C of the spy's logistic regression
    (51, ("Oslo", "Bergen"), False, 0.5),
    (52, ("s1", "s2", "s3", "s4", "s5"), True, 2.0),
)


def hidden_check_site_audit(site_audit: Callable[[pd.DataFrame, Sequence[str]], pd.DataFrame]) -> None:
    """Two other planted frames, features in another order (one coded 999, one never missing)."""
    with exercise("Exercise 1 (per-site audit table) (hidden tests)") as ex:
        for seed, n, features in ((21, 250, ["d", "a", "e"]), (22, 520, ["b", "c"])):
            frame = _planted_frame(seed=seed, n=n)
            out = ex.call(site_audit, frame.copy(), list(features))
            ex.expect(_same_frame(out, refs.reference_site_audit(frame, features)),
                      f"wrong audit table for the features {features} of another frame (n={n})")  # fmt: skip


def hidden_check_missing_code_auc(missing_code_auc: Callable[..., pd.Series]) -> None:
    """Other frames and targets; sentinels for features asked and not asked for; a frame without sentinels."""
    with exercise("Exercise 2 (label-revealing missing codes) (hidden tests)") as ex:
        for seed, n, target, features, sentinels in (
            (23, 500, "label", ["d", "e", "c"], {"a": 0.0, "e": 999.0, "c": -1.0}),
            (24, 300, "disease", ["a", "b", "e"], {}),
        ):
            frame = _planted_frame(seed=seed, n=n, target=target)
            out = ex.call(missing_code_auc, frame.copy(), list(features), target, dict(sentinels))
            ref = refs.reference_missing_code_auc(frame, features, target, sentinels)
            ex.expect(_same_series(out, ref, atol=1e-6) and list(out.index) == list(ref.index),
                      f"wrong or unsorted scores with target {target!r}, features {features} and sentinels "
                      f"{sentinels}")  # fmt: skip


def hidden_check_leave_one_site_out(leave_one_site_out: Callable[..., pd.Series]) -> None:
    """Two sites, and five categorical sites: fits audited, one AUC per held-out site."""
    with exercise("Exercise 3 (leave-one-site-out evaluation) (hidden tests)") as ex:
        for seed, names, categorical, C in _SITES:
            X, y, sites = _site_frame(seed, names, categorical)
            make_model, log = _spy_factory(C)
            out = ex.call(leave_one_site_out, make_model, X.copy(), y.copy(), sites.copy())
            ex.expect(isinstance(out, pd.Series) and set(out.index) == set(names),
                      f"return one AUC per held-out site, indexed by site ({list(names)})")  # fmt: skip
            _audit_fits(ex, log, X, sites)
            ref = refs.reference_leave_one_site_out(_spy_factory(C)[0], X, y, sites)
            ex.expect(_same_series(out, ref, atol=1e-6), f"wrong AUCs for the sites {list(names)}")


def hidden_check_held_out_calibration(held_out_calibration: Callable[..., pd.DataFrame]) -> None:
    """Two sites, and five categorical sites: fits audited, observed, predicted and citl per site."""
    with exercise("Exercise 4 (calibration-in-the-large per held-out site) (hidden tests)") as ex:
        for seed, names, categorical, C in _SITES:
            X, y, sites = _site_frame(seed + 10, names, categorical)
            make_model, log = _spy_factory(C)
            out = ex.call(held_out_calibration, make_model, X.copy(), y.copy(), sites.copy())
            ex.returns(out, pd.DataFrame, "a pandas DataFrame with one row per site")
            _audit_fits(ex, log, X, sites)
            ref = refs.reference_held_out_calibration(_spy_factory(C)[0], X, y, sites)
            ex.expect(_same_frame(out, ref, atol=1e-6),
                      f"wrong observed, predicted or citl for the sites {list(names)}")  # fmt: skip
