"""Mutation tests for the lab 00 checkers: each accepts the reference and correct alternatives, and rejects
plausible mistakes (leaks, ignored parameters, pooled or swapped metrics, reused models)."""

import numpy as np
import pandas as pd
import pytest
from mutation import case_id, mutation_cases, run_case
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.preprocessing import StandardScaler

from xaihealth.checks import clever_hans as ch
from xaihealth.data import FEATURES
from xaihealth.instructor.references import clever_hans as ch_ref

# --- Exercise 1: site audit ------------------------------------------------------------------------------


def audit_prevalence_from_num(df, features):
    """Averages the 0-4 severity instead of the 0/1 disease flag."""
    g = df.groupby("site", observed=True)
    return pd.DataFrame({"n": g.size(), "prevalence": g["num"].mean()}).join(
        df[list(features)].isna().groupby(df["site"], observed=True).mean()
    )


def audit_missing_over_everyone(df, features):
    """Missing share computed over the whole data, repeated on every site row."""
    g = df.groupby("site", observed=True)
    table = pd.DataFrame({"n": g.size(), "prevalence": g["disease"].mean()})
    for f in features:
        table[f] = df[f].isna().mean()
    return table


def audit_share_present(df, features):
    """Reports the share of values present instead of missing."""
    g = df.groupby("site", observed=True)
    return pd.DataFrame({"n": g.size(), "prevalence": g["disease"].mean()}).join(
        df[list(features)].notna().groupby(df["site"], observed=True).mean()
    )


def audit_n_counts_non_missing(df, features):
    """Counts non-missing values of the first feature as the number of patients."""
    g = df.groupby("site", observed=True)
    return pd.DataFrame({"n": g[features[0]].count(), "prevalence": g["disease"].mean()}).join(
        df[list(features)].isna().groupby(df["site"], observed=True).mean()
    )


def audit_drops_incomplete_rows(df, features):
    """Drops patients with any missing value first, so n and prevalence describe complete cases only."""
    complete = df.dropna(subset=list(features))
    g = complete.groupby("site", observed=True)
    table = pd.DataFrame({"n": g.size(), "prevalence": g["disease"].mean()})
    return table.join(df[list(features)].isna().groupby(df["site"], observed=True).mean())


def audit_missing_counts(df, features):
    """Counts the missing values instead of their share."""
    g = df.groupby("site", observed=True)
    return pd.DataFrame({"n": g.size(), "prevalence": g["disease"].mean()}).join(
        df[list(features)].isna().groupby(df["site"], observed=True).sum()
    )


def audit_prevalence_as_count(df, features):
    g = df.groupby("site", observed=True)
    return pd.DataFrame({"n": g.size(), "prevalence": g["disease"].sum()}).join(
        df[list(features)].isna().groupby(df["site"], observed=True).mean()
    )


def audit_hard_coded_features(df, features):
    """Ignores `features` and audits the columns it saw on the first frame."""
    return ch_ref.reference_site_audit(df, [f for f in ("a", "b", "c") if f in df] or list(FEATURES))


def audit_counts_sentinels_as_missing(df, features):
    """Treats any value of -1 or 999 as missing too (the exercise asks for NaN only)."""
    coded = df.copy()
    for f in features:
        if pd.api.types.is_numeric_dtype(coded[f]):
            coded.loc[coded[f].isin([-1.0, 999.0]), f] = np.nan
    return ch_ref.reference_site_audit(coded, features)


def audit_unsorted_positional(df, features):
    """Builds the rows with one site order and the missing shares with another (misaligned)."""
    table = ch_ref.reference_site_audit(df, features)
    shares = table[list(features)].iloc[::-1].to_numpy()
    table[list(features)] = shares
    return table


# --- Exercise 2: label-revealing missing codes -----------------------------------------------------------


def codes_ignore_sentinels(df, features, target, sentinels):
    return ch_ref.reference_missing_code_auc(df, features, target, {})


def codes_not_direction_free(df, features, target, sentinels):
    out = {}
    for f in features:
        code = df[f].isna() | (df[f] == sentinels[f] if f in sentinels else False)
        out[f] = roc_auc_score(df[target], code.astype(int)) if code.nunique() > 1 else 0.5
    return pd.Series(out).sort_values(ascending=False)


def codes_score_the_values(df, features, target, sentinels):
    """Scores the feature's own values (NaN filled) instead of the missingness indicator."""
    out = {}
    for f in features:
        values = pd.to_numeric(df[f], errors="coerce") if df[f].dtype != "category" else df[f].cat.codes
        auc = roc_auc_score(df[target], values.fillna(-999))
        out[f] = max(auc, 1 - auc)
    return pd.Series(out).sort_values(ascending=False)


def codes_unsorted(df, features, target, sentinels):
    return ch_ref.reference_missing_code_auc(df, features, target, sentinels).sort_index()


def codes_constant_as_nan(df, features, target, sentinels):
    """Crashes or returns NaN for a feature that is never missing."""
    out = {}
    for f in features:
        code = df[f].isna() | (df[f] == sentinels[f] if f in sentinels else False)
        if code.nunique() < 2:
            out[f] = np.nan
            continue
        auc = roc_auc_score(df[target], code.astype(int))
        out[f] = max(auc, 1 - auc)
    return pd.Series(out).sort_values(ascending=False)


def codes_hard_coded_target(df, features, target, sentinels):
    """Always scores against the column 'disease'."""
    target = "disease" if "disease" in df else target
    return ch_ref.reference_missing_code_auc(df, features, target, sentinels)


def codes_read_num_not_target(df, features, target, sentinels):
    """Builds the target from the severity column 'num' (> 0) instead of the `target` it is given (review)."""
    d = df.copy()
    d["_t"] = (d["num"] > 0).astype(int) if "num" in d else d[target]
    return ch_ref.reference_missing_code_auc(d, features, "_t", sentinels)


def codes_rounded_to_6_decimals(df, features, target, sentinels):
    """Correct: the reference rounded to 6 decimals (must be accepted)."""
    return ch_ref.reference_missing_code_auc(df, features, target, sentinels).round(6)


def codes_first_sentinel_only(df, features, target, sentinels):
    """Uses only the first entry of `sentinels`."""
    first = dict(list(sentinels.items())[:1])
    return ch_ref.reference_missing_code_auc(df, features, target, first)


def codes_sentinel_replaces_nan(df, features, target, sentinels):
    """For a feature with a sentinel, looks only at the sentinel and forgets NaN."""
    out = {}
    for f in features:
        code = (df[f] == sentinels[f]) if f in sentinels else df[f].isna()
        if code.nunique() < 2:
            out[f] = 0.5
            continue
        auc = roc_auc_score(df[target], code.astype(int))
        out[f] = max(auc, 1 - auc)
    return pd.Series(out).sort_values(ascending=False)


def codes_sorted_ascending(df, features, target, sentinels):
    return ch_ref.reference_missing_code_auc(df, features, target, sentinels).sort_values()


def codes_chol_zero_always(df, features, target, sentinels):
    """Ignores `sentinels` and hard-codes the lecture's cholesterol zero."""
    sentinels = {"chol": 0} if "chol" in df else {"c": -1.0}
    return ch_ref.reference_missing_code_auc(df, features, target, sentinels)


# --- Exercise 3: leave one site out ---------------------------------------------------------------------


def loso_with_clone(make_model, X, y, sites):
    """Correct: one template, a clone per site."""
    template = make_model()
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = clone(template).fit(X[~held], y[~held])
        out[site] = roc_auc_score(y[held], model.predict_proba(X[held])[:, 1])
    return pd.Series(out)


def loso_float32(make_model, X, y, sites):
    """Correct: the inputs cast to float32 before fitting and predicting (review: was rejected)."""
    Xf = X.astype("float32")
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(Xf[~held], y[~held])
        out[site] = roc_auc_score(y[held], model.predict_proba(Xf[held])[:, 1])
    return pd.Series(out)


def loso_columns_reordered(make_model, X, y, sites):
    """Correct: the same column permutation for training and test rows (review: was rejected)."""
    Xr = X[X.columns[::-1]]
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(Xr[~held], y[~held])
        out[site] = roc_auc_score(y[held], model.predict_proba(Xr[held])[:, 1])
    return pd.Series(out)


def loso_columns_reordered_at_test_only(make_model, X, y, sites):
    """Trains on the columns in order, predicts with them reversed: the model reads the wrong features."""
    Xr = X[X.columns[::-1]].to_numpy()
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X[~held].to_numpy(), y[~held])
        out[site] = roc_auc_score(y[held], model.predict_proba(Xr[held])[:, 1])
    return pd.Series(out)


def loso_with_logo(make_model, X, y, sites):
    """Correct: scikit-learn's LeaveOneGroupOut, numpy arrays, decision_function (same ranking)."""
    Xa, ya, groups = X.to_numpy(), y.to_numpy(), np.asarray(sites, dtype=object)
    out = {}
    for train, test in LeaveOneGroupOut().split(Xa, ya, groups):
        model = make_model().fit(Xa[train], ya[train])
        out[groups[test[0]]] = roc_auc_score(ya[test], model.decision_function(Xa[test]))
    return pd.Series(out)


def loso_trains_on_everything(make_model, X, y, sites):
    """The held-out site leaks into training."""
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X, y)
        out[site] = roc_auc_score(y[held], model.predict_proba(X[held])[:, 1])
    return pd.Series(out)


def loso_one_model_for_all(make_model, X, y, sites):
    """Creates one model and refits it in place, so make_model is called once."""
    model = make_model()
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model.fit(X[~held], y[~held])
        out[site] = roc_auc_score(y[held], model.predict_proba(X[held])[:, 1])
    return pd.Series(out)


def loso_models_kept_then_scored(make_model, X, y, sites):
    """Refits one object per site, keeps references to it, scores at the end: every site gets the last fit."""
    model, kept = make_model(), {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        kept[site] = (model.fit(X[~held], y[~held]), held)
    return pd.Series({s: roc_auc_score(y[h], m.predict_proba(X[h])[:, 1]) for s, (m, h) in kept.items()})


def loso_accuracy(make_model, X, y, sites):
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X[~held], y[~held])
        out[site] = accuracy_score(y[held], model.predict(X[held]))
    return pd.Series(out)


def loso_scores_training_sites(make_model, X, y, sites):
    """Evaluates on the training sites instead of the held-out one."""
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X[~held], y[~held])
        out[site] = roc_auc_score(y[~held], model.predict_proba(X[~held])[:, 1])
    return pd.Series(out)


def loso_hard_labels(make_model, X, y, sites):
    """AUC of the predicted class instead of the predicted probability."""
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X[~held], y[~held])
        out[site] = roc_auc_score(y[held], model.predict(X[held]))
    return pd.Series(out)


def loso_scales_on_all_sites(make_model, X, y, sites):
    """Standardises with the mean and SD of all sites (the held-out site included) before splitting."""
    Xs = pd.DataFrame(StandardScaler().fit_transform(X), columns=X.columns)
    return ch_ref.reference_leave_one_site_out(make_model, Xs, y, sites)


def loso_imputes_on_all_sites(make_model, X, y, sites):
    """Fills the gaps with the mean over all sites before splitting."""
    return ch_ref.reference_leave_one_site_out(make_model, X.fillna(X.mean()), y, sites)


def loso_imputes_with_sklearn_on_all_sites(make_model, X, y, sites):
    filled = pd.DataFrame(SimpleImputer(strategy="median").fit_transform(X), columns=X.columns)
    return ch_ref.reference_leave_one_site_out(make_model, filled, y, sites)


def loso_pooled_auc(make_model, X, y, sites):
    """Pools the held-out predictions of every site into one AUC and reports it for every site."""
    risk = np.empty(len(y))
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        risk[held] = make_model().fit(X[~held], y[~held]).predict_proba(X[held])[:, 1]
    pooled = roc_auc_score(y, risk)
    return pd.Series({site: pooled for site in pd.unique(sites)})


def loso_swapped_arguments(make_model, X, y, sites):
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X[~held], y[~held])
        out[site] = roc_auc_score(model.predict_proba(X[held])[:, 1], y[held])
    return pd.Series(out)


def loso_ignores_make_model(make_model, X, y, sites):
    """Builds its own logistic regression instead of the model it is given."""
    out = {}
    Xf = X.fillna(X.mean())
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = LogisticRegression().fit(Xf[~held], y[~held])
        out[site] = roc_auc_score(y[held], model.predict_proba(Xf[held])[:, 1])
    return pd.Series(out)


def loso_half_of_test_site_in_training(make_model, X, y, sites):
    """Trains on the other sites plus the first half of the held-out site's patients."""
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        extra = held & (np.cumsum(held) <= held.sum() // 2)
        train = ~held | extra
        model = make_model().fit(X[train], y[train])
        out[site] = roc_auc_score(y[held], model.predict_proba(X[held])[:, 1])
    return pd.Series(out)


def loso_one_training_site(make_model, X, y, sites):
    """Trains on the next site only, not on all other sites."""
    names = list(pd.unique(sites))
    out = {}
    for k, site in enumerate(names):
        held = np.asarray(sites == site)
        train = np.asarray(sites == names[(k + 1) % len(names)])
        model = make_model().fit(X[train], y[train])
        out[site] = roc_auc_score(y[held], model.predict_proba(X[held])[:, 1])
    return pd.Series(out)


def loso_probability_of_class_0(make_model, X, y, sites):
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X[~held], y[~held])
        out[site] = roc_auc_score(y[held], model.predict_proba(X[held])[:, 0])
    return pd.Series(out)


def loso_train_on_held_out(make_model, X, y, sites):
    """Swaps the roles: trains on the held-out site and scores the others."""
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X[held], y[held])
        out[site] = roc_auc_score(y[~held], model.predict_proba(X[~held])[:, 1])
    return pd.Series(out)


def loso_rounded(make_model, X, y, sites):
    return ch_ref.reference_leave_one_site_out(make_model, X, y, sites).round(2)


def loso_first_three_sites_only(make_model, X, y, sites):
    """Hard-codes a three-site loop (the lecture's first sites) — ignores the sites beyond the third."""
    names = list(pd.unique(sites))[:3]
    out = {}
    for site in names:
        held = np.asarray(sites == site)
        model = make_model().fit(X[~held], y[~held])
        out[site] = roc_auc_score(y[held], model.predict_proba(X[held])[:, 1])
    return pd.Series(out)


def loso_within_site_in_sample(make_model, X, y, sites):
    """Fits and scores on the same site (in-sample within-site AUC)."""
    out = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X[held], y[held])
        out[site] = roc_auc_score(y[held], model.predict_proba(X[held])[:, 1])
    return pd.Series(out)


def loso_returns_dict(make_model, X, y, sites):
    return ch_ref.reference_leave_one_site_out(make_model, X, y, sites).to_dict()


# --- Exercise 4: calibration-in-the-large per held-out site ---------------------------------------------


def _calibration(make_model, X, y, sites, *, fit_rows, score_rows, proba=True, sign=1.0, observed_all=False):
    rows = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X[fit_rows(held)], y[fit_rows(held)])
        scored = score_rows(held)
        p = model.predict_proba(X[scored])[:, 1] if proba else model.predict(X[scored])
        observed = float(np.mean(y)) if observed_all else float(np.mean(y[scored]))
        rows[site] = {
            "observed": observed,
            "predicted": float(np.mean(p)),
            "citl": sign * (observed - float(np.mean(p))),
        }
    return pd.DataFrame(rows).T


def calib_with_clone_and_logo(make_model, X, y, sites):
    """Correct: LeaveOneGroupOut and clone."""
    template, rows = make_model(), {}
    groups = np.asarray(sites, dtype=object)
    for train, test in LeaveOneGroupOut().split(X, y, groups):
        model = clone(template).fit(X.iloc[train], y.iloc[train])
        observed, predicted = y.iloc[test].mean(), model.predict_proba(X.iloc[test])[:, 1].mean()
        rows[groups[test[0]]] = {"observed": observed, "predicted": predicted, "citl": observed - predicted}
    return pd.DataFrame(rows).T


def calib_sign_flipped(make_model, X, y, sites):
    return _calibration(make_model, X, y, sites, fit_rows=lambda h: ~h, score_rows=lambda h: h, sign=-1.0)


def calib_hard_labels(make_model, X, y, sites):
    return _calibration(make_model, X, y, sites, fit_rows=lambda h: ~h, score_rows=lambda h: h, proba=False)


def calib_on_training_sites(make_model, X, y, sites):
    """Calibration measured on the sites the model was trained on."""
    return _calibration(make_model, X, y, sites, fit_rows=lambda h: ~h, score_rows=lambda h: ~h)


def calib_observed_over_everyone(make_model, X, y, sites):
    return _calibration(
        make_model, X, y, sites, fit_rows=lambda h: ~h, score_rows=lambda h: h, observed_all=True
    )


def calib_fitted_on_everything(make_model, X, y, sites):
    return _calibration(make_model, X, y, sites, fit_rows=lambda h: np.ones_like(h), score_rows=lambda h: h)


def calib_fitted_on_held_out_site(make_model, X, y, sites):
    """In-sample calibration at the site itself (close to 0 for a logistic model)."""
    return _calibration(make_model, X, y, sites, fit_rows=lambda h: h, score_rows=lambda h: h)


def calib_one_model_refitted(make_model, X, y, sites):
    model, rows = make_model(), {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model.fit(X[~held], y[~held])
        observed, predicted = y[held].mean(), model.predict_proba(X[held])[:, 1].mean()
        rows[site] = {"observed": observed, "predicted": predicted, "citl": observed - predicted}
    return pd.DataFrame(rows).T


def calib_scaled_on_all_sites(make_model, X, y, sites):
    Xs = pd.DataFrame(StandardScaler().fit_transform(X), columns=X.columns)
    return ch_ref.reference_held_out_calibration(make_model, Xs, y, sites)


def calib_imputed_on_all_sites(make_model, X, y, sites):
    return ch_ref.reference_held_out_calibration(make_model, X.fillna(X.mean()), y, sites)


def calib_probability_of_class_0(make_model, X, y, sites):
    rows = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X[~held], y[~held])
        observed, predicted = y[held].mean(), model.predict_proba(X[held])[:, 0].mean()
        rows[site] = {"observed": observed, "predicted": predicted, "citl": observed - predicted}
    return pd.DataFrame(rows).T


def calib_ratio(make_model, X, y, sites):
    """Reports observed / predicted instead of the difference."""
    table = ch_ref.reference_held_out_calibration(make_model, X, y, sites)
    table["citl"] = table["observed"] / table["predicted"]
    return table


def calib_absolute(make_model, X, y, sites):
    """Reports |observed − predicted|: loses the direction (over- or under-prediction)."""
    table = ch_ref.reference_held_out_calibration(make_model, X, y, sites)
    table["citl"] = table["citl"].abs()
    return table


def calib_median_risk(make_model, X, y, sites):
    rows = {}
    for site in pd.unique(sites):
        held = np.asarray(sites == site)
        model = make_model().fit(X[~held], y[~held])
        observed, predicted = y[held].mean(), np.median(model.predict_proba(X[held])[:, 1])
        rows[site] = {"observed": observed, "predicted": predicted, "citl": observed - predicted}
    return pd.DataFrame(rows).T


# --- Exercise 5: the written answer ---------------------------------------------------------------------

GOOD_ANSWER = (
    "Cleveland: the held-out AUC is a little lower and the paired interval lies below 0, with 139 sick and "
    "165 healthy patients, so the loss is real but small. Hungary and VA: the intervals of the difference "
    "contain 0, so we cannot tell; that is not evidence of no change. Switzerland: only 8 healthy patients, "
    "the within-site interval reaches below 0.5 and a percentile bootstrap with 8 cases is unreliable, so I "
    "draw no conclusion about its AUC. For deployment the calibration matters more than these differences."
)


def answer_reference(answer=GOOD_ANSWER):
    return answer


def answer_empty():
    return ""


def answer_not_a_string():
    return ["Cleveland", "Hungary"]


def answer_too_short():
    return "Cleveland is real, the others are not: interval, healthy patients, Hungary, Switzerland, VA."


def answer_two_sites_only():
    return " ".join(GOOD_ANSWER.replace("Hungary and VA", "The other two").split()[:200])


def answer_no_interval():
    return GOOD_ANSWER.replace("interval", "number").replace("intervals", "numbers")


def answer_complete_but_wrong():
    """Complete, and wrong: reads the Swiss gain as real and quotes the pooled AUC (review)."""
    return (
        "Cleveland loses a little, its interval below 0 with 139 sick and 165 healthy patients. "
        "Hungary and VA have intervals containing 0, so no change. Switzerland gains clearly: its "
        "interval excludes 0, so the model ranks Swiss patients better once trained elsewhere, 8 healthy "
        "patients notwithstanding. I would tell the hospital to quote the pooled AUC of 0.89, which uses "
        "all patients and is the most precise number we have, and deploy the model without recalibration."
    )


CASES = (
    mutation_cases(
        ch.check_site_audit,
        ch_ref.reference_site_audit,
        [
            audit_prevalence_from_num,
            audit_missing_over_everyone,
            audit_share_present,
            audit_n_counts_non_missing,
            audit_drops_incomplete_rows,
            audit_missing_counts,
            audit_prevalence_as_count,
            audit_hard_coded_features,
            audit_counts_sentinels_as_missing,
            audit_unsorted_positional,
        ],
    )
    + mutation_cases(
        ch.check_missing_code_auc,
        ch_ref.reference_missing_code_auc,
        [
            codes_ignore_sentinels,
            codes_not_direction_free,
            codes_score_the_values,
            codes_unsorted,
            codes_constant_as_nan,
            codes_hard_coded_target,
            codes_first_sentinel_only,
            codes_sentinel_replaces_nan,
            codes_sorted_ascending,
            codes_chol_zero_always,
            codes_read_num_not_target,
        ],
    )
    + [(ch.check_missing_code_auc, codes_rounded_to_6_decimals, True)]
    + mutation_cases(
        ch.check_leave_one_site_out,
        ch_ref.reference_leave_one_site_out,
        [
            loso_trains_on_everything,
            loso_one_model_for_all,
            loso_models_kept_then_scored,
            loso_accuracy,
            loso_scores_training_sites,
            loso_hard_labels,
            loso_scales_on_all_sites,
            loso_imputes_on_all_sites,
            loso_imputes_with_sklearn_on_all_sites,
            loso_pooled_auc,
            loso_swapped_arguments,
            loso_ignores_make_model,
            loso_half_of_test_site_in_training,
            loso_one_training_site,
            loso_probability_of_class_0,
            loso_train_on_held_out,
            loso_rounded,
            loso_first_three_sites_only,
            loso_within_site_in_sample,
            loso_returns_dict,
            loso_columns_reordered_at_test_only,
        ],
    )
    + [
        (ch.check_leave_one_site_out, loso_float32, True),
        (ch.check_leave_one_site_out, loso_columns_reordered, True),
    ]
    + [
        (ch.check_leave_one_site_out, loso_with_clone, True),
        (ch.check_leave_one_site_out, loso_with_logo, True),
    ]
    + mutation_cases(
        ch.check_held_out_calibration,
        ch_ref.reference_held_out_calibration,
        [
            calib_sign_flipped,
            calib_hard_labels,
            calib_on_training_sites,
            calib_observed_over_everyone,
            calib_fitted_on_everything,
            calib_fitted_on_held_out_site,
            calib_one_model_refitted,
            calib_scaled_on_all_sites,
            calib_imputed_on_all_sites,
            calib_probability_of_class_0,
            calib_ratio,
            calib_absolute,
            calib_median_risk,
        ],
    )
    + [(ch.check_held_out_calibration, calib_with_clone_and_logo, True)]
)


@pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
def test_checker_accepts_reference_and_rejects_mutants(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


WRITTEN = [(answer_reference, True)] + [
    (a, False)
    for a in (answer_empty, answer_not_a_string, answer_too_short, answer_two_sites_only, answer_no_interval)
]


@pytest.mark.parametrize(("make_answer", "accept"), WRITTEN, ids=case_id)
def test_written_answer_checker(make_answer, accept, capsys):
    if accept:
        ch.check_answer_5(make_answer())
        out = capsys.readouterr().out
        assert "NOT GRADED" in out and "passed" not in out and "\u2714" not in out
    else:
        with pytest.raises(AssertionError):
            ch.check_answer_5(make_answer())
        assert "passed" not in capsys.readouterr().out


def test_written_answer_checker_never_marks_a_judgement_right(capsys):
    """A complete but wrong judgement passes the completeness check, but gets no success mark (review)."""
    ch.check_answer_5(answer_complete_but_wrong())
    out = capsys.readouterr().out
    assert "NOT GRADED" in out and "\u2714" not in out and "passed" not in out


# --- Exercise 6: the written decision for Hungary ---------------------------------------------------------

GOOD_6 = (
    "Hungary's patients would be told risks that are too high: the model predicts about 0.50 where 0.36 are "
    "sick, a calibration-in-the-large of -0.14 whose interval excludes 0. The ranking still works (held-out "
    "AUC 0.88, and the features gain over the prior-only null), so I would not discard the model but "
    "recalibrate its intercept on a few hundred local patients with outcomes before any referral threshold "
    "is set; a 0.5 threshold now refers far too many patients. After deployment I would monitor the "
    "observed against the predicted risk every quarter."
)


def answer_6_reference():
    return GOOD_6


def answer_6_without_hungary():
    return GOOD_6.replace("Hungary's", "The")


def answer_6_without_interval():
    return GOOD_6.replace("whose interval excludes 0", "which is large")


def answer_6_without_ranking():
    return GOOD_6.replace("The ranking still works (held-out AUC 0.88, and the features gain over the "
                          "prior-only null)", "The model is still useful")


def answer_6_without_a_step():
    step = ("recalibrate its intercept on a few hundred local patients with outcomes before any referral "
            "threshold is set; a 0.5 threshold now refers far too many patients")
    return GOOD_6.replace(step, "think again about it with colleagues over the coming weeks and months")


def answer_6_too_short():
    return "Hungary: over-predicted, interval below 0, AUC fine, recalibrate locally."


WRITTEN_6 = [(answer_6_reference, True)] + [
    (a, False)
    for a in (answer_6_without_hungary, answer_6_without_interval, answer_6_without_ranking,
              answer_6_without_a_step, answer_6_too_short, answer_not_a_string)
]  # fmt: skip


@pytest.mark.parametrize(("make_answer", "accept"), WRITTEN_6, ids=case_id)
def test_written_answer_6_checker(make_answer, accept, capsys):
    if accept:
        ch.check_answer_6(make_answer())
        out = capsys.readouterr().out
        assert "NOT GRADED" in out and "passed" not in out and "\u2714" not in out
    else:
        with pytest.raises(AssertionError):
            ch.check_answer_6(make_answer())
        assert "NOT GRADED" not in capsys.readouterr().out


def test_checker_reports_an_unfinished_stub():
    def stub(*args):
        raise NotImplementedError("Exercise 1 (per-site audit table): replace this line with your code")

    with pytest.raises(AssertionError, match="not done yet"):
        ch.check_site_audit(stub)


def test_spy_model_can_be_cloned_and_refits_keep_their_serial():
    make_model, log = ch._spy_factory(0.5)
    X, y, _ = ch._site_frame(3, ("A", "B"), False)
    base = make_model()
    first, second = clone(base).fit(X, y), clone(base).fit(X, y)
    first.fit(X, y)
    serials = [s for event, s, _ in log if event == "fit"]
    assert serials[0] != serials[1] and serials[0] == serials[2]
    assert second.get_params() == {"C": 0.5}
