"""Run pip as if it ran on another platform: ``python platform_pip.py PIP_WHEEL MARKERS_JSON PIP_ARGS...``.

pip's ``--platform``, ``--python-version`` and ``--implementation`` choose the wheels of a target
platform, but pip evaluates environment markers (``; sys_platform == "win32"``) for the machine it runs
on (pypa/pip#11664, open): resolved on Linux "for Windows", a lock would keep its Linux-only pins and skip
Windows-only dependencies such as colorama. This wrapper loads the pip in ``PIP_WHEEL`` (a pip wheel runs
from its file), sets the target's marker environment (``MARKERS_JSON``, merged over this interpreter's)
where every marker evaluation of pip reads it (``packaging.markers.default_environment``), and hands the
remaining arguments to pip unchanged.

With ``--use-feature=fast-deps`` on an index that serves no PEP 658 metadata files, pip reads a wheel's
metadata with HTTP range requests, walking the zip's central directory backwards in 10 kB steps (about 500
requests for torch). The wrapper makes the steps 1 MB (about 5 requests for torch); the bytes pip reads
are the same.
"""

import functools
import json
import sys

RANGE_REQUEST_BYTES = 1024 * 1024


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        raise SystemExit(__doc__)
    pip_wheel, markers_json, *pip_args = argv
    sys.path.insert(0, pip_wheel)
    from pip._vendor.packaging import markers

    target = {**markers.default_environment(), **json.loads(markers_json)}
    markers.default_environment = lambda: dict(target)

    from pip._internal.network import lazy_wheel

    lazy_wheel.LazyZipOverHTTP = functools.partial(lazy_wheel.LazyZipOverHTTP, chunk_size=RANGE_REQUEST_BYTES)

    from pip._internal.cli.main import main as pip_main

    return pip_main(pip_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
