"""One call at the top of every notebook: reproducible, quiet, readable.

``setup()`` fixes the random seeds and the number of threads (so two runs print the same numbers), keeps
progress bars and library chatter out of the outputs, and sets the course's figure style
(:mod:`xaihealth.plots.style`: 110 dpi, Okabe-Ito colours, text >= 10 px).

**One base seed per notebook.** ``setup(seed=0)`` returns the notebook's base seed; the environment
variable ``XAIHEALTH_SEED`` overrides it (``make robustness`` re-runs every notebook with seeds 1..5).
Every random draw in a notebook (data generated for evaluation, splits, samplers, models fitted in the
notebook, torch) takes its seed from :func:`derived_seed`, so that a claim is re-tested on fresh draws:

    SEED = setup(seed=0)
    test = make_ecgs(1000, seed=derived_seed(4242))   # 4242 under base 0, a fresh draw under base 1..

Under base seed 0 ``derived_seed(k)`` is ``k`` itself (the draws the notebooks were written with); under
base ``b`` it is ``k + b * SEED_STRIDE``, far above every seed the training scripts pass, so a fresh
evaluation draw never reuses a training *seed*. That does not make every drawn example new: where a
generator's space of outcomes is small (templated notes), a fresh draw can repeat training examples
verbatim — a notebook that claims "unseen data" must check the overlap itself. Generators that hash the
seed (the radiographs' ``split_seed``) map it to other numbers. Shipped checkpoints do not change with the
seed.
"""

from __future__ import annotations

import os
import random
import sys
import warnings

from xaihealth import validate

SEED_ENV = "XAIHEALTH_SEED"
SEED_STRIDE = 1_000_003  # base seeds b >= 1 draw from [b * stride, (b + 1) * stride): disjoint streams
MAX_BASE_SEED = 4000  # keeps every derived seed below 2**32 (NumPy, scikit-learn)
MAX_OFFSET = SEED_STRIDE - 1
_base_seed: int | None = None


def base_seed_from_env(default: int) -> int:
    """The base seed: ``XAIHEALTH_SEED`` if it is set, else ``default``."""
    text = os.environ.get(SEED_ENV, "").strip()
    if not text:
        return validate.integer("seed", default, minimum=0, maximum=MAX_BASE_SEED)
    try:
        value = int(text)
    except ValueError:
        raise ValueError(
            f"{SEED_ENV}={text!r} must be an integer from 0 to {MAX_BASE_SEED} (the notebook's base seed)"
        ) from None
    return validate.integer(SEED_ENV, value, minimum=0, maximum=MAX_BASE_SEED)


def base_seed() -> int:
    """The base seed fixed by the last :func:`setup` call (``XAIHEALTH_SEED`` or its ``seed``)."""
    if _base_seed is None:
        raise RuntimeError("call xaihealth.notebook.setup() first: it fixes the notebook's base seed")
    return _base_seed


def derived_seed(offset: int = 0) -> int:
    """The seed of one random draw: ``offset`` under base seed 0, ``offset + base * SEED_STRIDE`` else.

    Give each draw of a notebook its own ``offset`` (e.g. the seed it was written with) so that draws
    stay independent of each other and all change together when the base seed changes.
    """
    offset = validate.integer("offset", offset, minimum=0, maximum=MAX_OFFSET)
    return offset + base_seed() * SEED_STRIDE


def setup(seed: int = 0, threads: int = 1) -> int:
    """Seed Python, NumPy (and torch if it is used), fix the thread count, quiet the outputs.

    Returns the base seed: ``seed``, unless ``XAIHEALTH_SEED`` is set. One thread by default: the course's
    models are small, and OpenMP pools spin when a 2-core laptop or a Binder pod is shared (measured: a
    boosted-tree fit took 0.3 s on one thread and 9 s on two threads of a loaded 2-core machine).
    """
    global _base_seed
    seed = base_seed_from_env(seed)
    _base_seed = seed
    threads = validate.integer("threads", threads, minimum=1, maximum=64)
    os.environ["TQDM_DISABLE"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*tqdm.*")

    import numpy as np
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # BLAS and OpenMP pools already loaded (scikit-learn, NumPy)

    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:  # only pay for torch in notebooks that use it
        import torch

        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=True)

    import pandas as pd

    from xaihealth.plots import style

    style.apply()  # 110 dpi, Okabe-Ito colour cycle, fonts >= 10 px (xaihealth.plots.style)
    pd.set_option("display.precision", 3)
    pd.set_option("display.width", 110)
    return seed
