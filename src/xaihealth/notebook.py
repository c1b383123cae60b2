"""One call at the top of every notebook: reproducible, quiet, readable.

``setup()`` fixes the random seeds and the number of threads (so two runs print the same numbers), keeps
progress bars and library chatter out of the outputs, and sets a plotting style with readable sizes.
"""

from __future__ import annotations

import os
import random
import sys
import warnings

from xaihealth import validate


def setup(seed: int = 0, threads: int = 1) -> None:
    """Seed Python, NumPy (and torch if it is used), fix the thread count, quiet the outputs.

    One thread by default: the course's models are small, and OpenMP pools spin when a 2-core laptop or a
    Binder pod is shared (measured: a boosted-tree fit took 0.3 s on one thread and 9 s on two threads of
    a loaded 2-core machine).
    """
    seed = validate.integer("seed", seed, minimum=0)
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

    import matplotlib as mpl
    import pandas as pd

    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 80,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 10,
        }
    )
    pd.set_option("display.precision", 3)
    pd.set_option("display.width", 110)
