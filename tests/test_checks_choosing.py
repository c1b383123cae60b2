"""Mutation tests for the lab 08 checkers: each accepts the reference and rejects plausible mistakes."""

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
import shap
from mutation import case_id, mutation_cases, run_case
from scipy import stats

from xaihealth.checks import choosing as ch
from xaihealth.instructor.references import choosing as ref

# --- Exercise 1: KernelSHAP within the budget ----------------------------------------------------------


def _pipeline(predict, X_pool, patients, budget, n_background=40, seed=0, *, link="logit", nsamples=None,
              background=None, reseed=True):  # fmt: skip
    X_pool, patients = np.asarray(X_pool, dtype=float), np.asarray(patients, dtype=float)
    if background is None:
        background = X_pool[np.random.default_rng(seed).choice(len(X_pool), n_background, replace=False)]
    P, M = patients.shape
    if nsamples is None:
        nsamples = (budget - n_background - P) // (P * n_background)
    if nsamples < 2 * M + 2:
        raise ValueError(f"budget={budget} is too small")
    explainer = shap.KernelExplainer(predict, background, link=link)
    if reseed:
        np.random.seed(seed)
    return np.asarray(explainer.shap_values(patients, nsamples=nsamples, l1_reg=False, silent=True))


def shap_probability_scale(predict, X_pool, patients, budget, n_background=40, seed=0):
    """Explains the probability (link='identity') instead of the log-odds."""
    return _pipeline(predict, X_pool, patients, budget, n_background, seed, link="identity")


def shap_budget_forgets_background(predict, X_pool, patients, budget, n_background=40, seed=0):
    """nsamples = budget // (P * B): forgets the background and the patients' own rows, runs past it."""
    P = len(patients)
    nsamples = budget // (P * n_background)
    return _pipeline(predict, X_pool, patients, budget, n_background, seed, nsamples=nsamples)


def shap_fixed_nsamples(predict, X_pool, patients, budget, n_background=40, seed=0):
    """A fixed nsamples=50 whatever the budget: wastes what was paid for."""
    return _pipeline(predict, X_pool, patients, budget, n_background, seed, nsamples=50)


def shap_first_rows_background(predict, X_pool, patients, budget, n_background=40, seed=0):
    """The first n_background rows as background instead of the lab's random draw."""
    return _pipeline(predict, X_pool, patients, budget, n_background, seed,
                     background=np.asarray(X_pool, dtype=float)[:n_background])


def shap_unseeded(predict, X_pool, patients, budget, n_background=40, seed=0):
    """Never seeds numpy's global generator before shap_values: the coalitions are not the lab's."""
    np.random.seed(seed + 12345)
    return _pipeline(predict, X_pool, patients, budget, n_background, seed, reseed=False)


def shap_per_patient(predict, X_pool, patients, budget, n_background=40, seed=0):
    """Accepted: one shap call per patient, each reseeded with its own seed (another KernelSHAP draw)."""
    X_pool, patients = np.asarray(X_pool, dtype=float), np.asarray(patients, dtype=float)
    background = X_pool[np.random.default_rng(seed).choice(len(X_pool), n_background, replace=False)]
    P, M = patients.shape
    nsamples = (budget - n_background - P) // (P * n_background)
    if nsamples < 2 * M + 2:
        raise ValueError(f"budget={budget} is too small")
    explainer = shap.KernelExplainer(predict, background, link="logit")
    rows = []
    for i in range(P):
        np.random.seed(1000 * seed + i + 7)
        rows.append(explainer.shap_values(patients[i:i + 1], nsamples=nsamples, l1_reg=False, silent=True)[0])
    return np.array(rows)


def shap_mean_of_logit(predict, X_pool, patients, budget, n_background=40, seed=0):
    """Accepted: the identity link on the model's log-odds (the other log-odds game)."""
    def log_odds(X):
        p = np.asarray(predict(X), dtype=float)
        return np.log(p / (1 - p))

    return _pipeline(log_odds, X_pool, patients, budget, n_background, seed, link="identity")


def shap_sign_flipped(predict, X_pool, patients, budget, n_background=40, seed=0):
    """The attributions with the wrong sign."""
    return -_pipeline(predict, X_pool, patients, budget, n_background, seed)


def shap_patients_as_background(predict, X_pool, patients, budget, n_background=40, seed=0):
    """The explained patients themselves as the background."""
    P = len(patients)
    nsamples = (budget - 2 * P) // (P * P)
    return _pipeline(predict, X_pool, patients, budget, P, seed, nsamples=nsamples,
                     background=np.asarray(patients, dtype=float))


def occlusion_scores(predict, X_pool, patients, budget, n_background=40, seed=0):
    """Occlusion: logit f(x) - logit f(x with feature j set to the background mean), not Shapley values."""
    X_pool, patients = np.asarray(X_pool, dtype=float), np.asarray(patients, dtype=float)
    background = X_pool[np.random.default_rng(seed).choice(len(X_pool), n_background, replace=False)]
    if (budget - len(patients)) // len(patients) < 2 * patients.shape[1] + 2:
        raise ValueError(f"budget={budget} is too small")
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    base = logit(predict(patients))
    out = np.zeros_like(patients)
    for j in range(patients.shape[1]):
        moved = patients.copy()
        moved[:, j] = background[:, j].mean()
        out[:, j] = base - logit(predict(moved))
    predict(np.repeat(patients, (budget // 2) // len(patients), axis=0)[: budget // 2])  # spend the budget
    return out


def gap_split_evenly(predict, X_pool, patients, budget, n_background=40, seed=0):
    """Efficient but not Shapley: each patient's log-odds gap split equally over the features."""
    phi = _pipeline(predict, X_pool, patients, budget, n_background, seed)
    return np.repeat(phi.sum(axis=1, keepdims=True) / phi.shape[1], phi.shape[1], axis=1)


def shap_no_minimum(predict, X_pool, patients, budget, n_background=40, seed=0):
    """Explains even when the budget leaves too few coalitions (no ValueError)."""
    P = len(patients)
    nsamples = max((budget - n_background - P) // (P * n_background), 2)
    return _pipeline(predict, X_pool, patients, budget, n_background, seed, nsamples=max(nsamples, 20))


# --- Exercise 2: the null model ---------------------------------------------------------------------


def ablated_in_place(predict, column, value):
    """Fixes the column in the caller's array (no copy)."""
    def null(rows):
        rows[:, column] = value
        return predict(rows)

    return null


def ablated_wrong_column(predict, column, value):
    """Fixes the next column (an off-by-one index)."""
    return ref.reference_ablated(predict, (column + 1) % 6, value)


def ablated_twice(predict, column, value):
    """Also queries the original rows (twice the cost) and averages."""
    def null(rows):
        fixed = np.array(rows, dtype=float)
        fixed[:, column] = value
        return 0.0 * predict(np.array(rows, dtype=float)) + predict(fixed)

    return null


def ablated_zero(predict, column, value):
    """Sets the column to 0 instead of the given value."""
    return ref.reference_ablated(predict, column, 0.0)


def ablated_nothing(predict, column, value):
    """Returns the model unchanged."""
    return predict


# --- Exercise 3: importance with an interval -------------------------------------------------------------


def _frame(importance, low, high, features):
    return pd.DataFrame({"importance": importance, "low": low, "high": high}, index=list(features))


def intervals_normal(phi, features, seed=0, n_resamples=2000, level=0.95):
    """Accepted: a normal-approximation interval mean +- z * sd / sqrt(n) of |phi| (no resampling)."""
    a = np.abs(np.asarray(phi, dtype=float))
    z = stats.norm.ppf(0.5 + level / 2)
    half = z * a.std(axis=0, ddof=1) / np.sqrt(len(a))
    return _frame(a.mean(axis=0), a.mean(axis=0) - half, a.mean(axis=0) + half, features)


def intervals_signed(phi, features, seed=0, n_resamples=2000, level=0.95):
    """The mean of the signed attributions (no absolute value)."""
    a = np.asarray(phi, dtype=float)
    result = stats.bootstrap((a,), np.mean, axis=0, n_resamples=n_resamples, confidence_level=level,
                             method="percentile", rng=np.random.default_rng(seed))
    return _frame(a.mean(axis=0), result.confidence_interval.low, result.confidence_interval.high, features)


def intervals_sd_not_se(phi, features, seed=0, n_resamples=2000, level=0.95):
    """mean +- 1.96 sd: the spread of patients, not the uncertainty of the mean."""
    a = np.abs(np.asarray(phi, dtype=float))
    half = 1.96 * a.std(axis=0, ddof=1)
    return _frame(a.mean(axis=0), a.mean(axis=0) - half, a.mean(axis=0) + half, features)


def intervals_ignore_level(phi, features, seed=0, n_resamples=2000, level=0.95):
    """Always a 95 % interval, whatever level asks."""
    return ref.reference_importance_intervals(phi, features, seed, n_resamples, 0.95)


def intervals_90_labelled_95(phi, features, seed=0, n_resamples=2000, level=0.95):
    """A 90 % interval when 95 % is asked (review R17, B4)."""
    return ref.reference_importance_intervals(phi, features, seed, n_resamples, level * 0.90 / 0.95)


def intervals_bca(phi, features, seed=0, n_resamples=2000, level=0.95):
    """Accepted: the BCa bootstrap over patients."""
    a = np.abs(np.asarray(phi, dtype=float))
    result = stats.bootstrap((a,), np.mean, axis=0, n_resamples=n_resamples, confidence_level=level,
                             method="BCa", rng=np.random.default_rng(seed))
    return _frame(a.mean(axis=0), result.confidence_interval.low, result.confidence_interval.high, features)


def intervals_resample_features(phi, features, seed=0, n_resamples=2000, level=0.95):
    """Resamples the features of each patient (the wrong axis) instead of the patients."""
    a = np.abs(np.asarray(phi, dtype=float))
    rng = np.random.default_rng(seed)
    means = np.array([a[:, rng.integers(0, a.shape[1], a.shape[1])].mean(axis=0) for _ in range(300)])
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return _frame(a.mean(axis=0), low, high, features)


# --- Exercise 4: the report ----------------------------------------------------------------------


def report_ascending(intervals, floor):
    """Sorted by increasing importance."""
    return ref.reference_make_report(intervals, floor).iloc[::-1]


def report_by_importance(intervals, floor):
    """matters = importance > floor (the point estimate, not the interval)."""
    report = ref.reference_make_report(intervals, floor)
    return report.assign(matters=report["importance"] > floor)


def report_by_upper_end(intervals, floor):
    """matters = high > floor (the upper end: anything plausible counts)."""
    report = ref.reference_make_report(intervals, floor)
    return report.assign(matters=report["high"] > floor)


def report_unsorted(intervals, floor):
    """Keeps the given order."""
    report = intervals[["importance", "low", "high"]]
    return report.assign(matters=report["low"] > floor)


def report_everything_matters(intervals, floor):
    """Calls every feature important (a constant answer)."""
    return ref.reference_make_report(intervals, floor).assign(matters=True)


CASES = [
    *mutation_cases(ch.check_kernel_shap_within_budget, ref.reference_kernel_shap_within_budget,
                    [shap_probability_scale, shap_budget_forgets_background, shap_fixed_nsamples,
                     shap_first_rows_background, shap_no_minimum, shap_sign_flipped,
                     shap_patients_as_background, occlusion_scores, gap_split_evenly]),
    *[(ch.check_kernel_shap_within_budget, accepted, True)
      for accepted in (shap_unseeded, shap_per_patient, shap_mean_of_logit)],
    *mutation_cases(ch.check_ablated, ref.reference_ablated,
                    [ablated_wrong_column, ablated_in_place, ablated_twice, ablated_zero, ablated_nothing]),
    *mutation_cases(ch.check_importance_intervals, ref.reference_importance_intervals,
                    [intervals_signed, intervals_sd_not_se, intervals_ignore_level,
                     intervals_resample_features, intervals_90_labelled_95]),
    (ch.check_importance_intervals, intervals_normal, True),
    (ch.check_importance_intervals, intervals_bca, True),
    *mutation_cases(ch.check_make_report, ref.reference_make_report,
                    [report_by_importance, report_ascending, report_by_upper_end, report_unsorted,
                     report_everything_matters]),
]


def test_exact_shapley_matches_the_closed_form_of_the_vendor():
    """Mean-of-logit game of a logistic regression: w_j (z_j(x_j) - mean_b z_j(b_j)) on the linear terms."""
    from xaihealth.data import blackbox as bb

    case = bb.make_blackbox_case(50, seed=4, budget=10**9)
    X = case.X.to_numpy()
    patients, background = X[:6], X[20:45]
    exact = ch.exact_shapley(lambda R: case.model.predict_proba(R)[:, 1], patients, background)
    w, _ = bb._vendor_fit(4, case.n_train)
    zp, zb = bb._standardise(patients), bb._standardise(background)
    linear = [j for j, f in enumerate(bb.FEATURES) if f not in bb.INTERACTION]
    want = w[linear] * (zp[:, linear] - zb[:, linear].mean(axis=0))
    assert np.allclose(exact["mean of logit"][:, linear], want, atol=1e-9)
    gap = np.log(case.model.predict_proba(patients)[:, 1] / case.model.predict_proba(patients)[:, 0])
    p_b = case.model.predict_proba(background)[:, 1].mean()
    assert np.allclose(exact["logit of mean"].sum(axis=1), gap - np.log(p_b / (1 - p_b)), atol=1e-9)


# --- Exercise 4: the student's own report against the planted truth -------------------------------


@pytest.fixture(scope="module")
def lab_report():
    """The lab's pipeline (references) on a fresh vendor case (seed 3), with fewer rows than the lab."""
    return _lab_pipeline(3)


def _lab_pipeline(seed):
    """The lab's pipeline (references) on vendor seed ``seed``, with fewer rows than the lab."""
    from xaihealth.data.blackbox import FEATURES, make_blackbox_case

    case = make_blackbox_case(200, seed=seed, budget=60_000)
    X = case.X.to_numpy()
    phi = ref.reference_kernel_shap_within_budget(lambda R: case.model.predict_proba(R)[:, 1], X[:150],
                                                  X[150:180], 60_000, n_background=40, seed=seed)
    intervals = ref.reference_importance_intervals(phi, FEATURES, seed=seed)
    return case, ref.reference_make_report(intervals, ch.MIN_EFFECT)


def _typed(importance, rel=0.15):
    """A report typed in from a planted importance, with intervals of +-``rel`` around it."""
    report = pd.DataFrame({"importance": importance, "low": importance * (1 - rel),
                           "high": importance * (1 + rel) + 0.01, "matters": importance > 0})
    return report.sort_values("importance", ascending=False)


def _passes(check, *args):
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            check(*args)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("other", [0, 1, 2, 4, 5])
def test_a_report_typed_in_from_one_seed_fails_on_seeds_with_other_roles(lab_report, other, capsys):
    """The planted truth is drawn per seed (which markers carry weak effects, every magnitude). The honest
    pipeline passes on each seed; seed 3's honest report, copied, and seed 3's truth, typed in, fail on
    every seed that draws other weak markers. Seed 0 draws the same ones (age, hemoglobin) as seed 3: there
    the copied report passes, the residual that the next test bounds."""
    from xaihealth.data.blackbox import planted_truth

    case_a, report_a = lab_report
    case_b, report_b = _lab_pipeline(other)
    ch.check_my_report(report_b, case_b)  # honest: passes on its own seed
    truth_a, truth_b = planted_truth(case_a), planted_truth(case_b)
    ch.check_my_report(_typed(truth_a.importance), case_a)  # the typed truth is right on its own seed
    if set(truth_a.weak) != set(truth_b.weak):
        assert not _passes(ch.check_my_report, report_a, case_b)
        assert not _passes(ch.check_my_report, _typed(truth_a.importance), case_b)
    else:
        assert other == 0


def test_a_typed_in_report_passes_on_few_other_seeds():
    """Over 20 seeds (380 ordered pairs), a report typed in from one seed's truth, even with intervals of
    +-60 %, passes the visible and hidden report checks of another seed only when the two seeds draw the
    same weak markers (about 1 in 25), never otherwise; measured 34/870 = 3.9 % over 30 seeds."""
    from xaihealth.data.blackbox import make_blackbox_case, planted_truth
    from xaihealth.instructor.hidden.choosing import hidden_check_my_report

    cases = [make_blackbox_case(20, seed=seed) for seed in range(20)]
    truths = [planted_truth(case) for case in cases]
    passed = same = 0
    for a, truth_a in enumerate(truths):
        typed = _typed(truth_a.importance, rel=0.6)
        for b, case_b in enumerate(cases):
            if a == b:
                continue
            ok = _passes(ch.check_my_report, typed, case_b) and _passes(hidden_check_my_report, typed, case_b)
            coincide = set(truth_a.weak) == set(truths[b].weak)
            assert coincide or not ok, (a, b)
            passed, same = passed + ok, same + coincide
    assert passed <= same and passed / 380 < 0.08


def _constant(report):
    return report.assign(importance=0.5, low=0.4, high=0.6, matters=True)


def _decoy_important(report):
    return report.assign(matters=report["matters"] | (report.index == "ck_mb"))


def _reversed_ranking(report):
    flipped = report.copy()
    flipped[["importance", "low", "high"]] = report[["importance", "low", "high"]].to_numpy()[::-1]
    return flipped.sort_values("importance", ascending=False)


def _point_intervals(report):
    return report.assign(low=report["importance"] - 1e-3, high=report["importance"] + 1e-3)


def _intervals_shifted(report):
    width = report["high"] - report["low"]
    return report.assign(low=report["low"] + 2.5 * width, high=report["high"] + 2.5 * width,
                         importance=report["importance"] + 2.5 * width)


def _probability_scale(report):
    return report.assign(**{c: report[c] / 4 for c in ("importance", "low", "high")})


@pytest.mark.parametrize("mutant", [_constant, _decoy_important, _reversed_ranking, _point_intervals,
                                    _intervals_shifted, _probability_scale], ids=lambda f: f.__name__)
def test_my_report_is_scored_against_the_planted_truth(lab_report, mutant, capsys):
    case, report = lab_report
    ch.check_my_report(report, case)  # the lab's own pipeline passes
    with pytest.raises(AssertionError):
        ch.check_my_report(mutant(report.copy()), case)


def _effects_halved(report):
    """Every importance but the strongest halved (a scale right only for the first feature)."""
    out = report.copy()
    out.iloc[1:, out.columns.get_indexer(["importance", "low", "high"])] /= 2.5
    return out


@pytest.mark.parametrize("mutant", [_probability_scale, _effects_halved], ids=lambda f: f.__name__)
def test_the_hidden_report_check_scores_every_effect_scale(lab_report, mutant, capsys):
    from xaihealth.instructor.hidden.choosing import hidden_check_my_report

    case, report = lab_report
    hidden_check_my_report(report, case)
    with pytest.raises(AssertionError):
        hidden_check_my_report(mutant(report.copy()), case)


def test_my_report_needs_the_case(lab_report):
    _, report = lab_report
    with pytest.raises(AssertionError):
        ch.check_my_report(report, None)


@pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
def test_checker(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


def test_the_null_rule_uses_the_lab_floor():
    assert ch.MIN_EFFECT == 0.1


@pytest.mark.parametrize("checker", [ch.check_answer_1b, ch.check_answer_4b], ids=case_id)
def test_written_answers_need_sentences_on_every_topic(checker):
    with pytest.raises(AssertionError):
        checker("KernelSHAP because black box budget LIME tree causal decoy archive interval " * 10)
    with pytest.raises(AssertionError):
        checker(None)


@pytest.mark.parametrize(("source", "exercise", "flagged"), [
    ("def make_report(intervals, floor):\n    return bb.planted_truth(case).importance", "4",
     "planted_truth"),
    ("def ablated(predict, column, value):\n    from xaihealth.data.blackbox import planted_truth\n"
     "    return planted_truth", "2", "planted_truth"),
    ("def kernel_shap_within_budget(predict, X_pool, patients, budget, n_background=40, seed=0):\n"
     "    return vendor._BudgetedModel__weights", "1", "_BudgetedModel__weights"),
    ("def make_report(intervals, floor):\n    return bb.COEFFICIENTS", "4", "COEFFICIENTS"),
    ("def make_report(intervals, floor):\n    from xaihealth.data.blackbox import NULL_FEATURES\n"
     "    return NULL_FEATURES", "4", "NULL_FEATURES"),
    ("def kernel_shap_within_budget(predict, X_pool, patients, budget, n_background=40, seed=0):\n"
     "    return vendor.with_budget(10**9)", "1", "with_budget"),
    ("def make_report(intervals, floor):\n    return intervals.sort_values('importance')", "4", None),
])  # fmt: skip
def test_the_grading_rule_flags_reading_the_planted_truth(source, exercise, flagged):
    from xaihealth.instructor.flags import Cell, flag_cells

    setup = Cell("import xaihealth.data.blackbox as bb\n"
                 "from xaihealth.data.blackbox import make_blackbox_case\n"
                 "case = make_blackbox_case()\nvendor = case.model", False, None)
    flags = flag_cells([setup, Cell(source, True, exercise)], "08")
    if flagged is None:
        assert flags == {}
    else:
        assert any(flagged in text for text in flags[exercise]), flags
