"""`python -m asyncstore.cli`: the `asyncstore` command."""

import sys

from asyncstore.cli import main

sys.exit(main())
