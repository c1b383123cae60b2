"""Checkers for lab 05b, *Circuits, superposition and sparse autoencoders*.

All exercises are graded on synthetic data with KNOWN answers: planted sparse features (unit directions in
a space with fewer dimensions than features) for the SAE training loop and its metrics, and small
hand-built direction sets for the feature-recovery score. The references are in
:mod:`xaihealth.instructor.references.circuits_sae` (instructor-only, replayed in a student release);
hints never print the solution.

Conventions shared by the lab, the lecture and the references:

* an SAE is a dict of tensors ``W_enc`` (d, h), ``b_enc`` (h,), ``W_dec`` (h, d) and ``b_dec`` (d,);
  latents are ``relu((x - b_dec) @ W_enc + b_enc)`` and the reconstruction is ``latents @ W_dec + b_dec``;
  the rows of ``W_dec`` are the learned feature directions and must have unit norm;
* feature recovery compares directions **with their sign**: SAE latents are non-negative, so a decoder
  row pointing along ``-f`` reconstructs ``-f``, which the data never contains; it is not a recovery of
  ``f``;
* the training checker draws its planted features from a seed that no student initialisation uses, and
  initialises the SAE from other seeds: an SAE initialised with the generator that drew the features
  starts AT the answer (``torch.randn`` with the same seed returns the same rows), which is how the first
  version of this lab made a 300-step SAE look perfect.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from xaihealth import validate
from xaihealth.checks._core import exercise, written_answer
from xaihealth.checks._reference import references
from xaihealth.models.sae import adam_steps

refs = references("circuits_sae")  # the reference implementations, or their replay

# ---------------------------------------------------------------------------------------- planted data


def planted_sparse_data(n: int = 2048, d: int = 16, k: int = 32, p: float = 0.05, seed: int = 0):
    """``x`` (n, d) = sparse non-negative combinations of ``k`` random unit directions ``features`` (k, d).

    Each feature is active with probability ``p`` in a sample, with a magnitude uniform in [0, 1).
    Returns ``(x, features, activations)``; ``activations`` (n, k) is the true code.
    """
    n = validate.integer("n", n, minimum=1)
    d = validate.integer("d", d, minimum=1)
    k = validate.integer("k", k, minimum=1)
    p = validate.number("p", p, minimum=0.0, maximum=1.0)
    seed = validate.integer("seed", seed, minimum=0)
    g = torch.Generator().manual_seed(seed)
    features = torch.nn.functional.normalize(torch.randn(k, d, generator=g), dim=1)
    activations = (torch.rand(n, k, generator=g) < p) * torch.rand(n, k, generator=g)
    return activations @ features, features, activations


# ------------------------------------------------------------------------- helpers the references share


def sae_forward(sae, x):
    """Latents and reconstruction of an SAE dict (see the module docstring)."""
    latents = torch.relu((x - sae["b_dec"]) @ sae["W_enc"] + sae["b_enc"])
    return latents, latents @ sae["W_dec"] + sae["b_dec"]


def match_latents(true_dirs, learned_dirs):
    """One-to-one (Hungarian) matching of true directions to learned rows by cosine, with sign.

    Returns ``(cols, cos)``: ``cols[i]`` is the learned row matched to true direction ``i`` (−1 where
    there are fewer learned rows than true directions) and ``cos[i]`` its cosine (NaN if unmatched).
    """
    t = torch.as_tensor(true_dirs)
    s = torch.as_tensor(learned_dirs)
    if t.ndim != 2 or s.ndim != 2 or t.shape[1] != s.shape[1]:
        raise ValueError(
            f"true_dirs and learned_dirs must be 2-D with the same number of columns; got shapes "
            f"{tuple(t.shape)} and {tuple(s.shape)}"
        )
    cos = (
        torch.nn.functional.normalize(t.double(), dim=1) @ torch.nn.functional.normalize(s.double(), dim=1).T
    ).numpy()
    rows, cols = linear_sum_assignment(cos, maximize=True)
    out_cols = np.full(len(t), -1)
    out_cos = np.full(len(t), np.nan)
    out_cols[rows], out_cos[rows] = cols, cos[rows, cols]
    return out_cols, out_cos


# ---------------------------------------------------------------------------------------------- helpers


def _as_array(value):
    try:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy().astype(float)
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return np.array(np.nan)


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _metrics_case():
    """Off-centre data with a different mean AND spread per dimension, a noisy reconstruction whose mean is
    off by +0.5 on half the dimensions (so an FVE taken around the mean of x_hat instead of x differs),
    latents with magnitudes != 1, 3 dead latents and 2 samples with no active latent."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(200, 8, generator=g) * torch.linspace(0.5, 3.0, 8) + torch.arange(8.0)
    x_hat = x + 0.4 * torch.randn(200, 8, generator=g) + 0.5 * (torch.arange(8) % 2)
    latents = torch.relu(torch.randn(200, 12, generator=g) - 0.8) * 3.0
    latents[:, [2, 5, 9]] = 0.0
    latents[[0, 7]] = 0.0
    return x, x_hat, latents


# the training checker's data: features from a seed no initialisation uses; the data are NOT centred
_TRAIN_DATA_SEED = 20_260_501
_TRAIN_OFFSET = 1.0


@lru_cache(maxsize=1)
def _planted():
    x, features, activations = planted_sparse_data(n=1024, seed=_TRAIN_DATA_SEED)
    return x + _TRAIN_OFFSET, features, activations


# ---------------------------------------------------------------------------------------------- checkers


def check_sae_metrics(sae_metrics: Callable) -> None:
    """Exercise 1: L0, fraction of variance explained and dead latents of an SAE's output."""
    x, x_hat, latents = _metrics_case()
    ref = refs.reference_sae_metrics(x, x_hat, latents)
    with exercise("Exercise 1 (SAE metrics)") as ex:
        out = ex.call(sae_metrics, x.clone(), x_hat.clone(), latents.clone())
        ex.returns(out, dict, "a dict with the keys 'l0', 'fve' and 'dead'", keys=("l0", "fve", "dead"))
        l0, fve, dead = (_as_float(out[k]) for k in ("l0", "fve", "dead"))
        ex.expect(
            abs(l0 - ref["l0"]) < 1e-4,
            f"l0 = {l0:.3f} is not the average NUMBER of non-zero latents per sample: count the latents "
            "that are > 0 in each row (their size does not matter), then average over ALL the samples",
        )
        ex.expect(
            abs(fve - ref["fve"]) < 1e-6,
            f"fve = {fve:.3f}: the fraction of variance explained is 1 − (total squared error) / (total "
            "squared deviation of x from its per-dimension MEAN), both summed over samples AND dimensions; "
            "the data here are not centred at 0 and their dimensions have different spreads",
        )
        ex.expect(
            dead == ref["dead"],
            f"dead = {dead:g}: a dead latent is a latent (a COLUMN of `latents`) that is zero on every "
            "sample; return how many there are",
        )


# the trajectory check: (l1_coeff, lr, steps, seed); two penalties, two learning rates, two step counts
_TRAJECTORIES = ((0.3, 3e-2, 3, 5), (0.05, 1e-2, 5, 6))
# the long-horizon check: the lab's own setting (l1_coeff=0.3, lr=0.03, 300 steps) on the first 512 rows;
# compared by the final LOSS (after 300 steps ReLU and Adam round-off make tensors drift apart elementwise)
_LONG = (0.3, 3e-2, 300, 5, 512)
_LONG_TOL = 0.01


def _sae_loss(x, sae, l1_coeff):
    latents = torch.relu((x - sae["b_dec"]) @ sae["W_enc"] + sae["b_enc"])
    x_hat = latents @ sae["W_dec"] + sae["b_dec"]
    return (((x - x_hat) ** 2).sum(1).mean() + l1_coeff * latents.abs().sum(1).mean()).item()


def _rel_err(got, want, start):
    """Distance from the reference after training, relative to how far the reference moved from the start
    (robust to float round-off: a few near-zero gradients may flip Adam's first update)."""
    return ((got - want).norm() / (want - start).norm().clamp_min(1e-12)).item()


def check_train_sae(train_sae: Callable) -> None:
    """Exercise 2: the SAE training loop on planted sparse features (d = 16, k = 32, 64 latents).

    The checker (1) inspects the initialisation (``steps=0``) for two seeds, and (2) compares a few training
    steps at two settings (l1_coeff, lr, steps) = (0.3, 0.03, 3) and (0.05, 0.01, 5) with the reference
    update run from the student's OWN initialisation, tensor by tensor (any valid random draw passes; an
    ignored ``lr``, ``steps`` or ``l1_coeff``, another loss, tied or frozen tensors, a missing ReLU or
    renormalisation do not). The data are off-centre, so an encoder that does not subtract ``b_dec`` fails.
    (3) A long-horizon check at the lab's setting (l1_coeff=0.3, lr=0.03, steps=300, on 512 rows): the final
    loss must be within 1 % of the reference's from the same initialisation (a loop that stops early or
    decays the learning rate drifts by 2-10 %; valid rewrites and other draws by < 1e-4). (4) Two steps on
    float64 data must return float64 tensors: the lab trains in float64 (in float32, 300 steps amplified the
    CPU's rounding into the printed L0). About 0.5 s in all.
    """
    x, _, _ = _planted()
    shapes = {"W_enc": (16, 64), "b_enc": (64,), "W_dec": (64, 16), "b_dec": (16,)}
    with exercise("Exercise 2 (training a sparse autoencoder)") as ex:

        def run(l1, steps, seed, lr=3e-2):
            sae = ex.call(train_sae, x.clone(), 64, l1, steps=steps, lr=lr, seed=seed)
            ex.returns(sae, dict, f"a dict of tensors with the shapes {shapes}", keys=shapes)
            ex.expect(
                all(isinstance(sae[k], torch.Tensor) and tuple(sae[k].shape) == s for k, s in shapes.items()),
                f"return a dict of tensors with the shapes {shapes}",
            )
            return {k: v.detach().float() for k, v in sae.items()}

        init_a, init_a2, init_b = run(0.3, 0, 5), run(0.3, 0, 5), run(0.3, 0, 6)
        ex.expect(
            torch.allclose(init_a["b_dec"], x.mean(0), atol=1e-5),
            "with steps=0 your b_dec is not the mean of x: initialise b_dec = x.mean(0) (the data are not "
            "centred; a zero b_dec makes the encoder read the offset as a feature)",
        )
        ex.expect(
            torch.equal(init_a["W_dec"], init_a2["W_dec"])
            and not torch.allclose(init_a["W_dec"], init_b["W_dec"]),
            "with steps=0, the same seed must give the same decoder and another seed another one: draw the "
            "initial directions from torch.Generator().manual_seed(seed)",
        )
        ex.expect(
            torch.allclose(init_a["b_enc"], torch.zeros(64), atol=1e-6),
            "with steps=0 your b_enc is not zero: start the encoder bias at 0",
        )
        norms0 = init_a["W_dec"].norm(dim=1)
        ex.expect(
            torch.allclose(norms0, torch.ones_like(norms0), atol=1e-4),
            f"with steps=0 your decoder rows have norms {norms0.min():.2f}–{norms0.max():.2f}: "
            "initialise them as random UNIT vectors (normalise each row)",
        )
        ex.expect(
            torch.allclose(init_a["W_enc"], init_a["W_dec"].T, atol=1e-6),
            "with steps=0 your encoder is not the transpose of your decoder: start W_enc = W_dec.T (as a "
            "separate tensor: the two are trained independently afterwards)",
        )
        try:  # the lab trains in float64: the student's tensors must follow x's dtype
            sae64 = train_sae(x[:256].double(), 64, 0.3, steps=2, lr=3e-2, seed=5)
            dtypes = {k: getattr(sae64[k], "dtype", None) for k in shapes}
            found = ", ".join(f"{k} {str(v).replace('torch.', '')}" for k, v in dtypes.items())
        except Exception as err:  # a float32 tensor meeting float64 data fails inside the student's code
            dtypes, found = {}, f"an error, {type(err).__name__}: {(str(err).splitlines() or [''])[0][:120]}"
        ex.expect(
            len(dtypes) == 4 and all(v == torch.float64 for v in dtypes.values()),
            f"for float64 data (the lab's own `x`) train_sae gave {found}: create every tensor in x's "
            "dtype (`torch.randn(..., generator=g).to(x.dtype)`, `torch.zeros(n, dtype=x.dtype)`), "
            "so that the training runs in the precision of its data",
        )
        inits = {5: init_a, 6: init_b}
        for l1, lr, steps, seed in _TRAJECTORIES:
            got = run(l1, steps, seed, lr=lr)
            start = inits[seed]
            want = adam_steps(x, start, l1, steps, lr)
            setting = f"l1_coeff={l1}, lr={lr}, steps={steps}"
            norms = got["W_dec"].norm(dim=1)
            ex.expect(
                torch.allclose(norms, torch.ones_like(norms), atol=1e-3),
                f"after {steps} steps ({setting}) your decoder rows have norms between "
                f"{norms.min():.3f} and {norms.max():.3f}: renormalise every ROW of W_dec to unit length "
                "after EACH optimiser step, otherwise the L1 penalty is dodged by shrinking the latents and "
                "growing the decoder",
            )
            ex.expect(
                not torch.allclose(got["b_dec"], start["b_dec"], atol=1e-7),
                f"after {steps} steps ({setting}) b_dec has not moved: it is a Parameter and goes to the "
                "optimiser with the other three tensors",
            )
            ex.expect(
                (got["W_enc"] - got["W_dec"].T).norm().item() > 1e-4,
                f"after {steps} steps ({setting}) W_enc is still exactly W_dec.T: the encoder and decoder "
                "are two separate Parameters (only their initial values are transposes of each other)",
            )
            errs = {k: _rel_err(got[k], want[k], start[k]) for k in shapes}
            bad = [f"{k} (off by {e:.0%} of the update)" for k, e in errs.items() if e > 0.02]
            ex.expect(
                not bad,
                f"after {steps} Adam steps with {setting}, started from YOUR initialisation, these tensors "
                f"differ from the expected update: {', '.join(bad)}. Check that you use the lr, steps and "
                "l1_coeff you are given; latents = relu((x − b_dec) @ W_enc + b_enc); loss = squared error "
                "summed over dimensions and averaged over samples + l1_coeff × the L1 norm of the LATENTS "
                "(summed over latents, averaged over samples); torch.optim.Adam over all four tensors; "
                "renormalise the rows of W_dec after every step",
            )
        l1, lr, steps, seed, n = _LONG
        xs = x[:n].clone()
        start = {k: v.detach().float() for k, v in ex.call(train_sae, xs.clone(), 64, l1, steps=0, lr=lr,
                                                              seed=seed).items()}  # fmt: skip
        got = {k: v.detach().float() for k, v in ex.call(train_sae, xs.clone(), 64, l1, steps=steps, lr=lr,
                                                            seed=seed).items()}  # fmt: skip
        loss_got, loss_want = _sae_loss(xs, got, l1), _sae_loss(xs, adam_steps(xs, start, l1, steps, lr), l1)
        rel = (loss_got - loss_want) / loss_want
        ex.expect(
            abs(rel) < _LONG_TOL,
            f"after the full {steps} steps (l1_coeff={l1}, lr={lr}, on {n} rows) your final loss is "
            f"{loss_got:.4f}, the reference's from your own initialisation {loss_want:.4f} ({rel:+.1%}): run "
            "EVERY one of the `steps` steps with the same constant learning rate (no early stop, no cap, no "
            "learning-rate schedule)",
        )


def _recovery_cases():
    g = torch.Generator().manual_seed(2)
    true_unit = torch.nn.functional.normalize(torch.randn(8, 6, generator=g), dim=1)
    true = true_unit * torch.linspace(0.5, 4.0, 8)[:, None]  # NOT unit vectors
    rand = torch.randn(4, 6, generator=g)
    # case A: 12 learned rows (h != k): scaled copies of features 0-4, the NEGATIVE of feature 5, noise,
    # a noisy copy of 6 and a second copy of 0
    learned_a = torch.cat(
        [
            3.0 * true_unit[:5],
            -true_unit[5:6],
            0.1 * rand,
            true_unit[6:7] + 0.8 * rand[0:1] / rand[0].norm(),
            2.0 * true_unit[0:1],
        ]
    )
    # case B: h == k, a duplicated feature: one-to-one matching differs from the best match
    learned_b = torch.cat([true_unit[0:1], 0.7 * true_unit[0:1] + 0.3 * true_unit[1:2], true_unit[2:3],
                           true_unit[3:4], 0.5 * rand[:4]])  # fmt: skip
    return true, learned_a, learned_b


def _exact_case():
    """Case C: axis-aligned directions whose cosines are exactly 1.0 in any float precision, graded with
    threshold 1.0: "strictly above" the threshold recovers none of them, "at or above" would count two."""
    true = torch.diag(torch.tensor([2.0, 3.0, 0.5, 1.0]))
    learned = torch.tensor(
        [[5.0, 0, 0, 0], [0, 1.0, 1.0, 0], [0, 0, 0, -1.0], [0, 0, 3.0, 0], [0, 0.5, 0, 0.5]]
    )
    return true, learned


def check_feature_recovery(feature_recovery: Callable) -> None:
    """Exercise 3: best and one-to-one cosine of each true direction with the learned ones, and the count."""
    true_ab, learned_a, learned_b = _recovery_cases()
    true_c, learned_c = _exact_case()
    cases = (("A", true_ab, learned_a, 0.9), ("B", true_ab, learned_b, 0.8), ("C", true_c, learned_c, 1.0),
             ("A in float64, the lab's dtype", true_ab.double(), learned_a.double(), 0.9))  # fmt: skip
    with exercise("Exercise 3 (feature-recovery score)") as ex:
        for name, true, learned, thr in cases:
            ref = refs.reference_feature_recovery(true, learned, threshold=thr)
            out = ex.call(feature_recovery, true.clone(), learned.clone(), threshold=thr)
            what = "a dict with the keys 'max_cos', 'n_recovered' and 'matched_cos'"
            ex.returns(out, dict, what, keys=("max_cos", "n_recovered", "matched_cos"))
            got = _as_array(out["max_cos"])
            ex.expect(
                got.shape == (len(true),),
                f"case {name}: max_cos has shape {got.shape}; it needs one value per TRUE direction "
                f"({len(true)}): for each true feature, take the best match among the learned rows",
            )
            ex.expect(
                np.all(np.abs(got) <= 1 + 1e-5),
                f"case {name}: a cosine of {np.abs(got).max():.2f}: normalise BOTH sets of directions to "
                "unit length before taking dot products (here neither set is unit)",
            )
            ex.expect(
                np.allclose(got, ref["max_cos"].numpy(), atol=1e-4),
                f"case {name}: max_cos differs from the expected values. Normalise both inputs; a learned "
                "row equal to −f does NOT recover f (SAE latents are non-negative), so do not take absolute "
                "values; take the maximum over the learned rows for each true direction",
            )
            ex.expect(
                _as_float(out["n_recovered"]) == ref["n_recovered"],
                f"case {name}: n_recovered should count the true directions whose max_cos is strictly above "
                f"the threshold you are given ({thr})",
            )
            matched = _as_array(out["matched_cos"])
            ex.expect(
                matched.shape == (len(true),) and np.allclose(matched, ref["matched_cos"].numpy(), atol=1e-4),
                f"case {name}: matched_cos differs from the expected values: give each true direction the "
                "cosine of its partner in the ONE-TO-ONE matching that MAXIMISES the total cosine (each "
                "learned row used at most once; scipy.optimize.linear_sum_assignment with maximize=True)",
            )




def check_answer_4(answer: object) -> None:
    """Exercise 4: choosing λ and trusting a latent; marked by a person with the rubric."""
    with exercise("Exercise 4 (choosing λ and trusting a latent)") as ex:
        topics = [("variance", "fve"), ("l0", "sparse"), ("seed", "initial")]
        written_answer(ex, answer, "answer_4", topics, 60)


def check_answer_5(answer: object) -> None:
    """Exercise 5: is the λ = 0.3 dictionary ready for a dashboard; marked by a person with the rubric."""
    with exercise("Exercise 5 (a dashboard of latents?)") as ex:
        topics = [("null", "random dictionar", "baseline"), ("dead", "live"),
                  ("one-to-one", "one to one", "matching"), ("label",)]
        written_answer(ex, answer, "answer_5", topics, 60)


# ------------------------------------------------------------------ lecture and script helpers (not graded)


def notes_concepts(notes) -> dict[str, np.ndarray]:
    """Boolean concept labels of each note, with the subset on which each is scored (deconfounded).

    Returns ``{name: (y, mask)}``: ``y`` the label, ``mask`` the notes on which the concept is scored.
    "allergen is c" is scored only on notes whose prescribed drug is NOT of class c, and "drug is c" only
    on notes whose allergen is NOT of class c: the two are correlated by construction (an "avoid" note
    pairs an allergen with a drug of the same class), so a latent for one would otherwise look like a
    latent for both.
    """
    from xaihealth.data.notes import CLASS_NAMES, POSITIONS

    a, d = POSITIONS["allergen"], POSITIONS["prescribed"]
    allergen, drug = notes.concepts["drug_class"][:, a], notes.concepts["drug_class"][:, d]
    everyone = np.ones(len(notes.labels), dtype=bool)
    out = {
        "negated allergy": (notes.concepts["negation"][:, 3] == 1, everyone),
        "answer avoid": (notes.labels == 1, everyone),
    }
    for cid, cname in enumerate(CLASS_NAMES):
        out[f"allergen is {cname}"] = (allergen == cid, drug != cid)
        out[f"drug is {cname}"] = (drug == cid, allergen != cid)
    return out


def _prf(fire, y):
    tp = (fire & y[:, None]).sum(0)
    precision = tp / np.maximum(fire.sum(0), 1)
    recall = tp / max(int(y.sum()), 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return precision, recall, f1


def concept_scores(fire_train, fire_test, concepts_train, concepts_test) -> dict[str, dict[str, float]]:
    """Per concept: the latent with the best F1 on the training notes, scored on the test notes.

    ``fire_*`` are boolean (notes, latents) arrays (latent > 0); ``concepts_*`` come from
    :func:`notes_concepts`. Returns ``{name: {"latent", "precision", "recall", "f1", "train_f1"}}``.
    """
    out = {}
    for name, (y_tr, mask_tr) in concepts_train.items():
        y_te, mask_te = concepts_test[name]
        _, _, f1_tr = _prf(fire_train[mask_tr], y_tr[mask_tr])
        j = int(f1_tr.argmax())
        p, r, f = _prf(fire_test[mask_te][:, [j]], y_te[mask_te])
        out[name] = {"latent": j, "precision": float(p[0]), "recall": float(r[0]), "f1": float(f[0]),
                     "train_f1": float(f1_tr[j])}  # fmt: skip
    return out
