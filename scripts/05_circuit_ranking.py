"""Module 05: is the claimed circuit special? Every head set of size 1..4, both patching directions.

For each pair kind (allergen, negation, drug swaps; held-out combinations) and each direction (denoise =
paste clean hook_z of the set into the corrupted run; noise = paste corrupted hook_z into the clean run),
the mean normalised effect of every one of the 162 head sets of size 1..4 (8 + 28 + 56 + 70), on
N_PAIRS pairs, for the same base seeds as the notebook's pair draws (0..5, 7, 9). Also: the earlier
claimed set C = {L0H0, L0H3, L1H1, L1H3} and {L0H2, L0H3, L1H1} patched only at ':' (position 16) or only
at the other positions (localisation).

Run (about 3 min on one thread; the result file in the repository was written by this command):
    .venv/bin/python scripts/05_circuit_ranking.py
Writes datasets/results/05_circuit_ranking.json.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import torch

from xaihealth.data.notes import PAIR_KINDS, POSITIONS, NotesTokenizer, make_patching_pairs
from xaihealth.models.notes_transformer import load_notes_transformer
from xaihealth.notebook import SEED_STRIDE

N_PAIRS = 300
BASE_SEEDS = (0, 1, 2, 3, 4, 5, 7, 9)
HEADS = [f"L{layer}H{h}" for layer in range(2) for h in range(4)]
SETS = [s for r in (1, 2, 3, 4) for s in itertools.combinations(range(8), r)]
OUT = Path(__file__).resolve().parents[1] / "datasets" / "results" / "05_circuit_ranking.json"


def main() -> None:
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    model = load_notes_transformer()
    tok = NotesTokenizer()
    avoid, safe, q = tok.token_id("avoid"), tok.token_id("safe"), POSITIONS["query"]

    def ld(logits):
        return logits[:, q, avoid] - logits[:, q, safe]

    def run(run_on, source, masks, positions=None):
        """Mean effect per mask (nb, 8 heads); positions: bool (17,) where the patch applies."""
        nb, n = len(masks), len(run_on)
        hooks = []
        for layer in range(2):
            name = f"blocks.{layer}.attn.hook_z"
            m = masks[:, 4 * layer: 4 * layer + 4].repeat_interleave(n, 0)[:, None, :, None]
            if positions is not None:
                m = m & positions[None, :, None, None]
            src = source[name].repeat(nb, 1, 1, 1)
            hooks.append((name, lambda z, hook, m=m, src=src: torch.where(m, src, z)))
        return ld(model.run_with_hooks(run_on.repeat(nb, 1), fwd_hooks=hooks)).view(nb, n)

    results = {"command": "python scripts/05_circuit_ranking.py", "n_pairs": N_PAIRS, "heads": HEADS,
               "sets": [[HEADS[i] for i in s] for s in SETS], "seeds": {}}  # fmt: skip
    local_sets = {"C": (0, 3, 5, 7), "L0H2+L0H3+L1H1": (2, 3, 5)}
    for base in BASE_SEEDS:
        per_seed = {}
        for i, kind in enumerate(PAIR_KINDS):
            seed = 500 + i + base * SEED_STRIDE
            pairs = make_patching_pairs(N_PAIRS, seed=seed, kind=kind, split="heldout")
            clean, corrupt = torch.from_numpy(pairs.clean_tokens), torch.from_numpy(pairs.corrupt_tokens)
            keep = lambda n: n.endswith("hook_z")  # noqa: E731
            logits_c, cache_c = model.run_with_cache(clean, names_filter=keep)
            logits_k, cache_k = model.run_with_cache(corrupt, names_filter=keep)
            c_ld, k_ld = ld(logits_c), ld(logits_k)
            for direction in ("denoise", "noise"):
                run_on, source = (corrupt, cache_c) if direction == "denoise" else (clean, cache_k)

                def score(p, c_ld=c_ld, k_ld=k_ld, direction=direction):
                    span = c_ld - k_ld
                    return ((p - k_ld) / span if direction == "denoise" else (c_ld - p) / span).mean(1)

                values = []
                for start in range(0, len(SETS), 12):
                    chunk = SETS[start: start + 12]
                    masks = torch.zeros(len(chunk), 8, dtype=torch.bool)
                    for j, s in enumerate(chunk):
                        masks[j, list(s)] = True
                    values += score(run(run_on, source, masks)).tolist()
                local = {}
                for label, s in local_sets.items():
                    masks = torch.zeros(1, 8, dtype=torch.bool)
                    masks[0, list(s)] = True
                    at_q = torch.zeros(clean.shape[1], dtype=torch.bool)
                    at_q[q] = True
                    local[label] = {"at ':' only": score(run(run_on, source, masks, at_q)).item(),
                                    "other positions only": score(run(run_on, source, masks, ~at_q)).item()}
                per_seed[f"{kind}/{direction}"] = {"effects": values, "localisation": local}
            print(base, kind, flush=True)
        results["seeds"][str(base)] = per_seed
    OUT.write_text(json.dumps(results, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
