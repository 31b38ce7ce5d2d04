"""``python -m semcache_magic.cli``."""

import sys

from . import main

sys.exit(main())
