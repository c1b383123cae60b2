"""The tiny notes transformer: a 2-layer, attention-only TransformerLens 4 model trained on synthetic notes.

Module 05 opens this model with the TransformerLens tools (``run_with_cache``, ``run_with_hooks``, hook
names such as ``blocks.1.attn.hook_pattern``, ``W_Q``/``W_K``/``W_V``/``W_O``, the ``QK``/``OV``
``FactoredMatrix`` objects, ``transformer_lens.patching``) to find how it checks a drug against the
allergy recorded earlier in the note (see :mod:`xaihealth.data.notes`).

How it is built. TransformerLens 4 replaced ``HookedTransformer`` by ``TransformerBridge``. A model that
is not on the Hugging Face hub is built with ``TransformerBridge.boot_native(TransformerBridgeConfig(...))``:
it constructs TransformerLens's own small native transformer (pre-LayerNorm blocks, split Q/K/V/O linear
layers with biases, learned absolute position embeddings, an unembedding without bias) and wraps it in
the bridge that provides the hooks. No network and no ``transformers`` model class is involved.

What is saved. ``bridge.state_dict()`` uses TransformerLens names (``embed.weight``, ``pos_embed.weight``,
``blocks.{l}.ln1.weight``, ``blocks.{l}.attn.q.weight`` ... ``unembed.weight``, and ``unembed.bias``, a
zero buffer). The checkpoint stores exactly that dictionary in safetensors; the manifest's ``config``
stores the ``TransformerBridgeConfig`` keyword arguments (``config["bridge"]``) and the vocabulary, so that
:func:`load_notes_transformer` rebuilds the same bridge and loads the weights with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xaihealth import validate
from xaihealth.data.notes import POSITIONS, SEQ_LEN, NotesTokenizer

if TYPE_CHECKING:
    import torch
    from transformer_lens.model_bridge import TransformerBridge

NAME = "notes_transformer"
#: Position of the ":" token; the logits there predict the answer token ``safe`` / ``avoid``.
QUERY_POSITION = POSITIONS["query"]

#: Keyword arguments of ``TransformerBridgeConfig`` for the shipped model (``d_vocab`` is filled in from
#: the tokenizer). Attention-only so that every path from the allergen to the answer is a head.
DEFAULT_BRIDGE_CONFIG: Mapping[str, Any] = {
    "d_model": 64,
    "d_head": 16,
    "n_heads": 4,
    "n_layers": 2,
    "n_ctx": SEQ_LEN,
    "attn_only": True,
    "normalization_type": "LN",
    "positional_embedding_type": "standard",
    "act_fn": "gelu",
    "init_mode": "gpt2",
    "seed": 0,
}


def notes_transformer_config(**overrides: Any) -> dict[str, Any]:
    """The full, JSON-ready model config: ``{"bridge": TransformerBridgeConfig kwargs, "vocab": [...]}``.

    ``overrides`` replace entries of :data:`DEFAULT_BRIDGE_CONFIG` (e.g. ``n_layers=1``); unknown keys
    raise ``ValueError``.
    """
    for key in overrides:
        validate.one_of("overrides", key, tuple(DEFAULT_BRIDGE_CONFIG))
    tok = NotesTokenizer()
    bridge = {**DEFAULT_BRIDGE_CONFIG, **overrides, "d_vocab": len(tok)}
    return {
        "bridge": bridge,
        "vocab": list(tok.words),
        "seq_len": SEQ_LEN,
        "query_position": QUERY_POSITION,
        "answers": ["safe", "avoid"],
        "library": "transformer-lens 4 (TransformerBridge.boot_native)",
    }


def build_notes_transformer(config: Mapping[str, Any] | None = None) -> TransformerBridge:
    """Build a randomly initialised notes transformer (seeded by ``config["bridge"]["seed"]``).

    ``config`` is the dictionary of :func:`notes_transformer_config` (the default when ``None``). Its
    vocabulary must be the one of :class:`~xaihealth.data.notes.NotesTokenizer`: a checkpoint trained on
    another vocabulary would read the notes with the wrong token ids.
    """
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    config = notes_transformer_config() if config is None else config
    if not isinstance(config, Mapping) or "bridge" not in config or "vocab" not in config:
        raise ValueError(
            f"config={config!r} must be a mapping with keys 'bridge' and 'vocab' "
            "(see notes_transformer_config())"
        )
    words = list(NotesTokenizer().words)
    if list(config["vocab"]) != words:
        raise ValueError(
            "config['vocab'] differs from NotesTokenizer().words; the checkpoint was trained on another "
            "vocabulary. Re-run scripts/train_notes_transformer.py"
        )
    bridge_kwargs = dict(config["bridge"])
    if bridge_kwargs.get("d_vocab") != len(words):
        raise ValueError(f"config['bridge']['d_vocab']={bridge_kwargs.get('d_vocab')!r} must be {len(words)}")
    return TransformerBridge.boot_native(TransformerBridgeConfig(**bridge_kwargs))


def load_notes_transformer(name: str = NAME, folder: Path | None = None) -> TransformerBridge:
    """Rebuild the trained notes transformer from the manifest and load its sha256-verified weights.

    Returns the ``TransformerBridge`` in eval mode. Raises ``ChecksumError`` if the file does not match
    the manifest, ``ValueError`` if ``name`` is unknown.
    """
    from xaihealth.checkpoints import checkpoint_entry, load_state_dict

    entry = checkpoint_entry(name, folder)
    model = build_notes_transformer(entry["config"])
    state = load_state_dict(name, folder)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def _as_tokens(tokens: Any) -> torch.Tensor:
    import torch

    t = torch.as_tensor(np.asarray(tokens) if not isinstance(tokens, torch.Tensor) else tokens)
    if t.ndim != 2 or t.shape[1] <= QUERY_POSITION or t.dtype not in (torch.int64, torch.int32):
        raise ValueError(
            f"tokens has shape {tuple(t.shape)} and dtype {t.dtype}; expected integer token ids of shape "
            f"(n, L) with L > {QUERY_POSITION} (the ':' query position)"
        )
    return t.long()


def answer_logits(model: TransformerBridge, tokens: Any) -> torch.Tensor:
    """Logits of ``[safe, avoid]`` at the ":" query position, shape ``(n, 2)`` (no gradient).

    ``tokens`` is ``(n, L)`` with ``L >= 17``: the prompts of
    :func:`~xaihealth.data.notes.make_patching_pairs` or ``NotesSet.tokens`` (the answer column is
    ignored: attention is causal).
    """
    import torch

    tok = NotesTokenizer()
    ids = [tok.token_id("safe"), tok.token_id("avoid")]
    with torch.no_grad():
        logits = model(_as_tokens(tokens))
    return logits[:, QUERY_POSITION, ids]


def predict_avoid(model: TransformerBridge, tokens: Any) -> np.ndarray:
    """The model's answers as 0/1 (1 = ``avoid``): ``avoid`` logit above ``safe`` logit."""
    logits = answer_logits(model, tokens)
    return (logits[:, 1] > logits[:, 0]).numpy().astype(np.int64)
