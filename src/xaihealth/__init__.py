"""Support package of the *XAI for Health* course.

What lives here is plumbing: data loaders and generators, model definitions, checkpoint loading,
plotting helpers and lab checkers. The methods the course teaches are written out in the notebooks.

Importing the package also arms the offline guard when ``XAIHEALTH_OFFLINE=1`` is set (the test suite
sets it for the notebook kernels), so that a notebook cannot reach the network unnoticed.
"""

import os as _os

__version__ = "0.1.0"

if _os.environ.get("XAIHEALTH_OFFLINE") == "1":
    from xaihealth import offline as _offline

    _offline.install()
