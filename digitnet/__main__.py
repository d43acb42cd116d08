"""Entry point of `python -m digitnet`."""

import sys

from digitnet.cli import main

sys.exit(main())
