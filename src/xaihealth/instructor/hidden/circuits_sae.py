"""Hidden tests for lab 05b (SAE metrics, the SAE training loop, feature recovery).

Other shapes (5 and 12 dimensions, 20 and 48 latents), other dead latents and empty samples, another
planted data set shifted the other way with other (l1_coeff, lr, steps, seed), and other recovery cases
(rescaled, negated and duplicated directions) at other thresholds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from xaihealth.checks.circuits_sae import _as_array, _as_float, _rel_err, _sae_loss, planted_sparse_data
from xaihealth.instructor.hidden import hidden_references
from xaihealth.instructor.integrity import exercise
from xaihealth.models.sae import adam_steps

refs = hidden_references("circuits_sae")


def hidden_check_sae_metrics(sae_metrics: Callable) -> None:
    """150 samples of 5 dimensions, 20 latents (4 dead, 3 empty samples), another offset and spread."""
    g = torch.Generator().manual_seed(61)
    x = torch.randn(150, 5, generator=g) * torch.tensor([4.0, 0.2, 1.0, 2.5, 0.7]) - 3.0
    x_hat = 0.9 * x + 0.3 * torch.randn(150, 5, generator=g) - 0.2
    latents = torch.relu(torch.randn(150, 20, generator=g) - 0.3) * torch.linspace(0.1, 5.0, 20)
    latents[:, [0, 7, 8, 19]] = 0.0
    latents[[3, 50, 149]] = 0.0
    want = refs.reference_sae_metrics(x, x_hat, latents)
    with exercise("Exercise 1 (SAE metrics) (hidden tests)") as ex:
        out = ex.call(sae_metrics, x.clone(), x_hat.clone(), latents.clone())
        ex.returns(out, dict, "a dict with the keys 'l0', 'fve' and 'dead'", keys=("l0", "fve", "dead"))
        l0, fve, dead = (_as_float(out[k]) for k in ("l0", "fve", "dead"))
        ex.expect(abs(l0 - want["l0"]) < 1e-4, f"on other data your l0 is {l0:.3f}, not {want['l0']:.3f}")
        ex.expect(
            abs(fve - want["fve"]) < 1e-6, f"on other data your fve is {fve:.4f}, not {want['fve']:.4f}"
        )
        ex.expect(dead == want["dead"], f"on other data your dead count is {dead:g}, not {want['dead']}")


def hidden_check_train_sae(train_sae: Callable) -> None:
    """12 dimensions, 48 latents, data shifted by -0.5: the initialisation; 4 and 2 Adam steps at other
    settings, tensor by tensor from the student's own initialisation; and 110 steps on 64 rows, by the
    final loss (within 1 %), which a loop capped at 100 steps or with a decaying rate misses."""
    x = planted_sparse_data(n=400, d=12, k=20, p=0.08, seed=20_261_107)[0] - 0.5
    shapes = {"W_enc": (12, 48), "b_enc": (48,), "W_dec": (48, 12), "b_dec": (12,)}
    with exercise("Exercise 2 (training a sparse autoencoder) (hidden tests)") as ex:

        def run_on(data, l1, steps, seed, lr):
            sae = ex.call(train_sae, data.clone(), 48, l1, steps=steps, lr=lr, seed=seed)
            ex.returns(sae, dict, f"a dict of tensors with the shapes {shapes}", keys=shapes)
            ex.expect(
                all(isinstance(sae[k], torch.Tensor) and tuple(sae[k].shape) == s for k, s in shapes.items()),
                f"with 12 dimensions and 48 latents return tensors of the shapes {shapes}",
            )
            return {k: v.detach().float() for k, v in sae.items()}

        def run(l1, steps, seed, lr):
            return run_on(x, l1, steps, seed, lr)

        start = run(0.1, 0, 9, 2e-2)
        norms = start["W_dec"].norm(dim=1)
        ex.expect(
            torch.allclose(start["b_dec"], x.mean(0), atol=1e-5)
            and torch.allclose(start["b_enc"], torch.zeros(48))
            and torch.allclose(norms, torch.ones_like(norms), atol=1e-4)
            and torch.allclose(start["W_enc"], start["W_dec"].T, atol=1e-6),
            "with steps=0: b_dec = x.mean(0), b_enc = 0, unit decoder rows, W_enc = W_dec.T",
        )
        for l1, lr, steps in ((0.1, 2e-2, 4), (0.6, 5e-3, 2)):
            got, want = run(l1, steps, 9, lr), adam_steps(x, start, l1, steps, lr)
            bad = [k for k in shapes if _rel_err(got[k], want[k], start[k]) > 0.02]
            ex.expect(
                not bad,
                f"after {steps} Adam steps with l1_coeff={l1}, lr={lr} from your own initialisation "
                f"these tensors differ from the expected update: {bad}",
            )
        long = x[:64]
        start = run_on(long, 0.2, 0, 10, 2e-2)
        got = run_on(long, 0.2, 110, 10, 2e-2)
        loss_got, loss_want = (
            _sae_loss(long, got, 0.2),
            _sae_loss(long, adam_steps(long, start, 0.2, 110, 2e-2), 0.2),
        )
        ex.expect(
            abs(loss_got - loss_want) / loss_want < 0.01,
            f"after 110 steps (l1_coeff=0.2, lr=0.02, 64 rows) your final loss {loss_got:.4f} differs "
            f"from the reference's from your own initialisation ({loss_want:.4f}): run every step at the "
            "same rate",
        )


def hidden_check_feature_recovery(feature_recovery: Callable) -> None:
    """Other directions (7 of 5 dimensions), rescaled, negated, duplicated and mixed learned rows."""
    g = torch.Generator().manual_seed(62)
    unit = torch.nn.functional.normalize(torch.randn(7, 5, generator=g), dim=1)
    true = unit * torch.linspace(3.0, 0.2, 7)[:, None]
    noise = torch.randn(4, 5, generator=g)
    more = torch.cat(
        [
            0.5 * unit[[1, 3, 4]],
            -2.0 * unit[[0]],
            unit[[2]] + 0.6 * noise[[0]] / noise[0].norm(),
            0.2 * noise[1:],
            4.0 * unit[[1]],
        ]
    )
    same = torch.cat(
        [
            unit[[6]],
            0.6 * unit[[6]] + 0.4 * unit[[5]],
            unit[[0]],
            -unit[[1]],
            0.3 * noise,
        ]
    )  # h == k: the one-to-one matching differs from the best match
    with exercise("Exercise 3 (feature-recovery score) (hidden tests)") as ex:
        axes = torch.tensor([[0, 0, 4.0], [0, 0.3, 0], [1.5, 0, 0]])  # cosines exactly 1.0 with its rows
        cases = ((true, more, 0.7), (true, same, 0.95), (true, more, 0.99), (axes, torch.eye(3) * 2, 1.0))
        for true, learned, thr in cases:
            want = refs.reference_feature_recovery(true, learned, threshold=thr)
            out = ex.call(feature_recovery, true.clone(), learned.clone(), threshold=thr)
            ex.returns(
                out,
                dict,
                "a dict with the keys 'max_cos', 'n_recovered' and 'matched_cos'",
                keys=("max_cos", "n_recovered", "matched_cos"),
            )
            shown = f"{len(learned)} learned rows, threshold {thr}"
            ex.expect(
                np.allclose(_as_array(out["max_cos"]), want["max_cos"].numpy(), atol=1e-4)
                and _as_float(out["n_recovered"]) == want["n_recovered"],
                f"with {shown} your max_cos or n_recovered differ from the lab's",
            )
            matched = _as_array(out["matched_cos"])
            ex.expect(
                matched.shape == (len(true),)
                and np.allclose(matched, want["matched_cos"].numpy(), atol=1e-4),
                f"with {shown} your one-to-one matched_cos differs from the lab's",
            )
