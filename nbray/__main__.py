"""`python -m nbray ...` is the `nbray` command."""

import sys

from .cli import main

sys.exit(main())
