"""Mutation tests for the lab 00 checkers: each accepts the reference and rejects plausible mistakes."""

import numpy as np
import pandas as pd
import pytest
from mutation import case_id, mutation_cases, run_case
from sklearn.metrics import accuracy_score, roc_auc_score

from xaihealth.checks import clever_hans as ch

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


# --- Exercise 2: label-revealing missing codes -----------------------------------------------------------


def codes_ignore_sentinels(df, features, target, sentinels):
    return ch.reference_missing_code_auc(df, features, target, {})


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
    return ch.reference_missing_code_auc(df, features, target, sentinels).sort_index()


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


# --- Exercise 3: leave one site out ---------------------------------------------------------------------


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


CASES = (
    mutation_cases(
        ch.check_site_audit,
        ch.reference_site_audit,
        [
            audit_prevalence_from_num,
            audit_missing_over_everyone,
            audit_share_present,
            audit_n_counts_non_missing,
        ],
    )
    + mutation_cases(
        ch.check_missing_code_auc,
        ch.reference_missing_code_auc,
        [
            codes_ignore_sentinels,
            codes_not_direction_free,
            codes_score_the_values,
            codes_unsorted,
            codes_constant_as_nan,
        ],
    )
    + mutation_cases(
        ch.check_leave_one_site_out,
        ch.reference_leave_one_site_out,
        [
            loso_trains_on_everything,
            loso_one_model_for_all,
            loso_accuracy,
            loso_scores_training_sites,
            loso_hard_labels,
        ],
    )
)


@pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
def test_checker_accepts_reference_and_rejects_mutants(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


def test_checker_reports_an_unfinished_stub():
    def stub(*args):
        raise NotImplementedError("Exercise 1 (per-site audit table): replace this line with your code")

    with pytest.raises(AssertionError, match="not done yet"):
        ch.check_site_audit(stub)
