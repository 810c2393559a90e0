"""``python -m mpgraph``: the ``mpgraph`` command."""

import sys

from .cli import main

sys.exit(main())
