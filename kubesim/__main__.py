"""``python -m kubesim`` is the ``kubesim`` command."""

import sys

from kubesim.cli import main

sys.exit(main())
