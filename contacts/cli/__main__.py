"""``python -m contacts.cli``: the ``contacts`` command."""

import sys

from .main import main

sys.exit(main())
