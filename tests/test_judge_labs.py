"""The judge on the check cells whose objects need more than plain data to cross the pipe (labs 00, 01, 04).

For each lab, two submissions go through ``make grade``: the solved lab, which must score full marks with
every check cell judged outside the kernel, and one whose kernel verdicts are forged (``Exercise.expect``
made a no-op) while some exercises are wrong. The judge must score those exercises 0, each through the path
its checker needs: a planted frame (00 Ex 1), a copy of an EBM whose prediction methods refuse, sent by
value (01 Ex 2, wrong on missing values only), the checker's recording fitter lent so that it sees which
patients were used (01 Ex 5), a layer of a model sent by value (04 Ex 2), and a hidden planted model made
of torch's classes (04 Ex 6: wrong on the hidden model only, right on the public ones, so the kernel alone
would give full marks).
"""

import copy
import os

import jupytext
import nbformat
import pytest

from xaihealth.instructor.bench import solved_lab
from xaihealth.instructor.grade import grade_lab, solution_path
from xaihealth.instructor.judge import KERNEL_ONLY

FORGE = ("\nfrom xaihealth.checks._core import Exercise\n"
         "Exercise.expect = lambda self, c, h: setattr(self, 'checked', self.checked + 1)\n")  # fmt: skip

WRONG = {
    "00": {
        # the share missing over all patients, not within each site
        "ex1": "def site_audit(df, features):\n"
               "    by_site = df.groupby('site', observed=True)\n"
               "    table = pd.DataFrame({'n': by_site.size(), 'prevalence': by_site['disease'].mean()})\n"
               "    for f in features:\n"
               "        table[f] = df[f].isna().mean()\n"
               "    return table\n",
    },
    "01": {
        # missing values read from the last bin instead of the missing-value bin 0
        "ex2": "def explain_by_lookup(ebm, X):\n"
               "    columns = {}\n"
               "    terms = zip(ebm.term_names_, ebm.term_features_, ebm.term_scores_)\n"
               "    for name, features, table in terms:\n"
               "        index = []\n"
               "        for f in features:\n"
               "            cuts = ebm.bins_[f][min(len(features), len(ebm.bins_[f])) - 1]\n"
               "            x = X.iloc[:, f].to_numpy(dtype=float)\n"
               "            index.append(np.searchsorted(cuts, x, side='right') + 1)\n"
               "        columns[name] = table[tuple(index)]\n"
               "    return pd.DataFrame(columns, index=X.index)\n",
        # trained on every site, the held-out one included: only the lent recorder can see it
        "ex5": "def auc_change_at_new_site(fit, edit, X, y, site):\n"
               "    y, site = np.asarray(y), np.asarray(site)\n"
               "    model = fit(X, y)\n"
               "    edited = edit(model)\n"
               "    rows = {}\n"
               "    for held_out in pd.unique(site):\n"
               "        out = site == held_out\n"
               "        before = roc_auc_score(y[out], model.decision_function(X[out]))\n"
               "        after = roc_auc_score(y[out], edited.decision_function(X[out]))\n"
               "        rows[held_out] = {'auc_before': before, 'auc_after': after,\n"
               "                          'change': after - before}\n"
               "    return pd.DataFrame(rows).T\n",
    },
    "04": {
        # no ReLU: negative evidence kept
        "ex2": "def grad_cam(model, layer, x, target):\n"
               "    store = {}\n"
               "    def keep(module, inputs, output):\n"
               "        store['act'] = output\n"
               "        output.register_hook(lambda grad: store.__setitem__('grad', grad))\n"
               "    handle = layer.register_forward_hook(keep)\n"
               "    try:\n"
               "        model(x)[:, target].sum().backward()\n"
               "    finally:\n"
               "        handle.remove()\n"
               "    weights = store['grad'].mean(dim=(2, 3), keepdim=True)\n"
               "    return (weights * store['act']).sum(dim=1).detach()\n",
        # frozen parameters left out: right on every public model, wrong on the hidden one
        "ex6": "def parameterised_layers(model):\n"
               "    return [name for name, child in model.named_children()\n"
               "            if any(p.requires_grad for p in child.parameters())]\n",
    },
}


def _submissions(lab):
    solved = solved_lab(jupytext.read(solution_path(lab)))
    wrong = copy.deepcopy(solved)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in wrong.cells}
    for grade_id, source in WRONG[lab].items():
        cells[grade_id].source = source
    first = next(iter(WRONG[lab]))
    cells[first].source += FORGE
    return {"solved": solved, "wrong": wrong}


@pytest.fixture(scope="module", params=sorted(WRONG))
def graded(request, tmp_path_factory):
    lab = request.param
    tmp = tmp_path_factory.mktemp(f"judge{lab}")
    subs = tmp / "subs"
    subs.mkdir()
    stem = solution_path(lab).stem
    for name, nb in _submissions(lab).items():
        nbformat.write(nb, subs / f"{name}_{stem}.ipynb")
    rows = grade_lab(lab, subs, tmp / "out", jobs=2, cell_timeout=60, notebook_timeout=400, progress=False,
                     sandbox="require" if os.environ.get("CI") else "auto")  # fmt: skip
    return lab, {r.student.split("_")[0]: r for r in rows}


def test_none_of_these_check_cells_is_left_to_the_kernel(graded):
    lab, _ = graded
    assert lab not in KERNEL_ONLY


def test_the_solution_scores_full_marks_in_the_judge(graded):
    lab, rows = graded
    row = rows["solved"]
    assert row.status == "graded", row
    assert row.points == row.max_points, row.hints
    assert not any("kernel only" in note or note.startswith("judge:") for note in row.notes), row.notes


def test_forged_kernel_verdicts_do_not_save_wrong_answers(graded):
    lab, rows = graded
    row = rows["wrong"]
    wrong = {grade_id.removeprefix("ex") for grade_id in WRONG[lab]}
    assert row.status == "graded", row
    # raw: the points the check cells earned (kernel and judge), before the AST flags, which flag the
    # forgery too and zero what it touched (test_grading covers them)
    assert {e: p for e, p in row.raw.items() if e in wrong} == dict.fromkeys(wrong, 0.0), row.hints
    assert {e: p for e, p in row.raw.items() if e not in wrong} == \
        {e: p for e, p in row.max_points.items() if e not in wrong}, row.hints
    for exercise in wrong:
        assert "the grader's own run" in row.hints.get(exercise, ""), (exercise, row.hints)
    assert any("tampering" in text for texts in row.flags.values() for text in texts), row.flags
