"""``python -m contacts``: the ``contacts`` command (as ``python -m contacts.cli``)."""

import sys

from .cli.main import main

sys.exit(main())
