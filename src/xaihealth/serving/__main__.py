"""``python -m xaihealth.serving``: start the app and its worker (see :mod:`xaihealth.serving.serve`)."""

import sys

from xaihealth.serving.serve import main

sys.exit(main())
