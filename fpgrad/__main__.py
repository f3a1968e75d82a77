"""``python -m fpgrad`` is the ``fpgrad`` command."""

import sys

from .cli import main

sys.exit(main())
