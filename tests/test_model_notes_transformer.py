"""The notes transformer: training script, checkpoint integrity, and the TransformerLens 4 tools of module 05.

A quick training run writes into a temporary folder (once per module); the shipped checkpoint in
``datasets/models`` is checked for held-out accuracy and used for the hook, weight and patching tests.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from xaihealth.checkpoints import ChecksumError, models_dir, read_manifest, sha256
from xaihealth.data.notes import POSITIONS, SEQ_LEN, NotesTokenizer, make_notes, make_patching_pairs
from xaihealth.models.notes_transformer import (
    NAME,
    QUERY_POSITION,
    answer_logits,
    build_notes_transformer,
    load_notes_transformer,
    notes_transformer_config,
    predict_avoid,
)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_notes_transformer.py"
TOK = NotesTokenizer()
AVOID, SAFE = TOK.token_id("avoid"), TOK.token_id("safe")


def _script():
    spec = importlib.util.spec_from_file_location("train_notes_transformer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("notes_models")
    script = _script()
    path = script.main(["--quick", "--out", str(out)])
    return script, out, path


@pytest.fixture(scope="module")
def shipped():
    torch.set_num_threads(1)
    return load_notes_transformer()


@pytest.fixture(scope="module")
def pairs():
    p = make_patching_pairs(64, seed=21)
    return torch.from_numpy(p.clean_tokens), torch.from_numpy(p.corrupt_tokens)


# --- training script and checkpoint ------------------------------------------------------------------


def test_quick_run_writes_a_verified_manifest_entry(quick):
    _, out, path = quick
    entry = read_manifest(out)[NAME]
    assert path == out / entry["file"] and path.exists()
    assert entry["sha256"] == sha256(path) and entry["bytes"] == path.stat().st_size
    assert "--quick" in entry["command"] and entry["data_seed"] == 0
    for key in (
        "test_accuracy",
        "test_accuracy_negated_same_class",
        "pairs_allergen_clean_accuracy",
        "pairs_negation_corrupt_accuracy",
        "pairs_drug_corrupt_accuracy",
        "test_loss",
    ):
        assert 0.0 <= entry["metrics"][key] <= (1.0 if "accuracy" in key else 100.0)
    assert entry["config"]["bridge"]["d_vocab"] == len(TOK) and entry["config"]["vocab"] == list(TOK.words)


def test_reload_gives_identical_logits_and_training_is_deterministic(quick):
    script, out, _ = quick
    loaded = load_notes_transformer(folder=out)
    assert not loaded.training
    retrained, _ = script.train(**script.QUICK, log=False)
    x = torch.from_numpy(make_notes(50, seed=9).tokens)
    with torch.no_grad():
        assert torch.equal(loaded(x), retrained(x))  # same seeds -> the same weights, bit for bit


def test_tampered_checkpoint_is_refused(quick, tmp_path):
    _, out, path = quick
    shutil.copy(out / "manifest.json", tmp_path / "manifest.json")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / path.name).write_bytes(bytes(data))
    with pytest.raises(ChecksumError):
        load_notes_transformer(folder=tmp_path)


def test_config_with_another_vocabulary_is_refused(quick, tmp_path):
    _, out, path = quick
    manifest = json.loads((out / "manifest.json").read_text())
    manifest[NAME]["config"]["vocab"][5] = "aspirin"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    shutil.copy(path, tmp_path / path.name)
    with pytest.raises(ValueError, match="vocab"):
        load_notes_transformer(folder=tmp_path)
    with pytest.raises(ValueError, match="name="):
        load_notes_transformer("no_such_model", folder=out)
    with pytest.raises(ValueError, match="overrides"):
        notes_transformer_config(n_layer=3)
    with pytest.raises(ValueError, match="tokens"):
        answer_logits(build_notes_transformer(), np.zeros((2, 5), dtype=np.int64))


def test_shipped_checkpoint_is_accurate_on_held_out_notes(shipped):
    entry = read_manifest(models_dir())[NAME]
    assert entry["bytes"] <= 10 * 2**20 and entry["metrics"]["test_accuracy"] >= 0.95
    assert entry["config"]["training"]["train_split"] == "train"
    assert entry["metrics"]["test_verbatim_in_train"] == 0.0  # held-out combinations never trained on
    # combinations never seen in training, and a seed used neither for training nor for the manifest
    test = make_notes(2000, seed=123, split="heldout")
    pred = predict_avoid(shipped, test.tokens)
    assert (pred == test.labels).mean() >= 0.95
    trap = (test.concepts["negation"][:, POSITIONS["cue_det"]] == 1) & (
        test.concepts["drug_class"][:, POSITIONS["allergen"]]
        == test.concepts["drug_class"][:, POSITIONS["prescribed"]]
    )
    assert trap.sum() > 200 and (pred[trap] == 0).mean() >= 0.95  # it reads the negation


# --- TransformerLens 4 tools on the shipped model -------------------------------------------------------


def test_run_with_cache_hook_names_and_residual_stream(shipped, pairs):
    clean, _ = pairs
    logits, cache = shipped.run_with_cache(clean)
    n, seq = clean.shape
    assert logits.shape == (n, seq, len(TOK))
    for layer in range(2):
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
        assert pattern.shape == (n, 4, seq, seq)
        torch.testing.assert_close(pattern.sum(-1), torch.ones(n, 4, seq))
        assert (pattern.triu(diagonal=1) == 0).all()  # causal
        # attention-only: the residual stream is embeddings plus the heads' outputs
        resid_pre, resid_post = (
            cache[f"blocks.{layer}.hook_resid_pre"],
            cache[f"blocks.{layer}.hook_resid_post"],
        )
        torch.testing.assert_close(resid_post, resid_pre + cache[f"blocks.{layer}.hook_attn_out"])
    torch.testing.assert_close(
        cache["blocks.0.hook_resid_pre"], cache["hook_embed"] + cache["hook_pos_embed"]
    )
    # the unembedding of the final normalised stream gives the logits (logit lens at the last layer)
    torch.testing.assert_close(cache["ln_final.hook_out"] @ shipped.W_U + shipped.b_U, logits)


def test_weights_match_the_hooked_activations(shipped, pairs):
    clean, _ = pairs
    _, cache = shipped.run_with_cache(clean)
    assert shipped.W_Q.shape == shipped.W_K.shape == shipped.W_V.shape == (2, 4, 64, 16)
    assert shipped.W_O.shape == (2, 4, 16, 64) and shipped.W_E.shape == (len(TOK), 64)
    for layer in range(2):
        x = cache[f"blocks.{layer}.ln1.hook_out"]
        weights = {
            "q": (shipped.W_Q, shipped.b_Q),
            "k": (shipped.W_K, shipped.b_K),
            "v": (shipped.W_V, shipped.b_V),
        }
        for name, (w, b) in weights.items():
            expected = torch.einsum("bpd,hde->bphe", x, w[layer]) + b[layer]
            torch.testing.assert_close(cache[f"blocks.{layer}.attn.hook_{name}"], expected)
        z = cache[f"blocks.{layer}.attn.hook_z"]
        out = torch.einsum("bphe,hed->bpd", z, shipped.W_O[layer]) + shipped.b_O[layer]
        torch.testing.assert_close(cache[f"blocks.{layer}.hook_attn_out"], out, atol=1e-5, rtol=1e-5)
        # pre-softmax scores must be rebuilt from q and k: in TransformerLens 4.3 the native bridge's
        # hook_attn_scores carries the post-softmax pattern (a library quirk module 05 must know)
        q, k = cache[f"blocks.{layer}.attn.hook_q"], cache[f"blocks.{layer}.attn.hook_k"]
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / 16**0.5
        mask = torch.ones(clean.shape[1], clean.shape[1], dtype=torch.bool).triu(1)
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
        torch.testing.assert_close(scores.masked_fill(mask, float("-inf")).softmax(-1), pattern)
        torch.testing.assert_close(cache[f"blocks.{layer}.attn.hook_attn_scores"], pattern)


def test_qk_and_ov_factored_matrices(shipped):
    from transformer_lens import FactoredMatrix

    qk, ov = shipped.QK, shipped.OV
    assert isinstance(qk, FactoredMatrix) and isinstance(ov, FactoredMatrix)
    assert qk.shape == ov.shape == (2, 4, 64, 64)
    torch.testing.assert_close(qk.AB, shipped.W_Q @ shipped.W_K.transpose(-1, -2))
    torch.testing.assert_close(ov.AB, shipped.W_V @ shipped.W_O)
    # a head's OV circuit has rank at most d_head; the factored SVD says so without forming 64x64 products
    s = ov[0, 0].S
    assert s.shape == (16,) and (s[:-1] >= s[1:]).all()
    assert torch.linalg.matrix_rank(ov.AB[0, 0]) <= 16


def test_run_with_hooks_patches_and_ablates(shipped, pairs):
    clean, corrupt = pairs
    allergen = POSITIONS["allergen"]
    _, clean_cache = shipped.run_with_cache(clean, names_filter="hook_embed")

    def diff(logits):
        return logits[:, QUERY_POSITION, AVOID] - logits[:, QUERY_POSITION, SAFE]

    def patch_allergen(act, hook):
        act[:, allergen] = clean_cache[hook.name][:, allergen]
        return act

    with torch.no_grad():
        base = diff(shipped(corrupt))
        patched = diff(shipped.run_with_hooks(corrupt, fwd_hooks=[("hook_embed", patch_allergen)]))
        untouched = diff(shipped.run_with_hooks(corrupt, fwd_hooks=[("hook_embed", lambda act, hook: act)]))

        # editing hook_pattern re-weights the values: attend only to <bos> in every head -> answer changes
        def to_bos(pattern, hook):
            new = torch.zeros_like(pattern)
            new[..., 0] = 1.0
            return new

        ablated = shipped.run_with_hooks(
            clean, fwd_hooks=[(f"blocks.{i}.attn.hook_pattern", to_bos) for i in (0, 1)]
        )
    assert (base < 0).all() and (patched > 0).all()  # the only difference is the allergen's embedding
    torch.testing.assert_close(untouched, base)
    assert not torch.allclose(ablated, shipped(clean).detach())
    assert not shipped.hook_dict["hook_embed"]._forward_hooks  # run_with_hooks removed its hooks


def test_transformer_lens_patching_localises_the_allergen(shipped, pairs):
    from transformer_lens import patching

    clean, corrupt = pairs
    _, clean_cache = shipped.run_with_cache(clean)

    def logit_diff(logits):
        return (logits[:, -1, AVOID] - logits[:, -1, SAFE]).mean()

    with torch.no_grad():
        clean_ld, corrupt_ld = logit_diff(shipped(clean)), logit_diff(shipped(corrupt))

    def metric(logits):  # 0 = corrupted run, 1 = clean run
        return (logit_diff(logits) - corrupt_ld) / (clean_ld - corrupt_ld)

    resid = patching.get_act_patch_resid_pre(shipped, corrupt, clean_cache, metric)
    assert resid.shape == (2, SEQ_LEN - 1)
    torch.testing.assert_close(resid[0, POSITIONS["allergen"]], torch.tensor(1.0))  # all the difference
    assert resid[0, : POSITIONS["allergen"]].abs().max() < 1e-4  # positions before it carry nothing
    # the information reaches ":" through the heads; together they restore most of the answer
    heads = patching.get_act_patch_attn_head_out_all_pos(shipped, corrupt, clean_cache, metric)
    assert heads.shape == (2, 4)
    assert heads.max() > 0.2
    # before layer 1 the layer-0 heads have moved the allergen information off its own position: the
    # retrained model (issue 13) spreads it over later positions, ":" carrying the largest share
    assert resid[1, POSITIONS["allergen"]].abs() < 0.05
    assert resid[1].argmax() == QUERY_POSITION and resid[1, QUERY_POSITION] > 0.25
