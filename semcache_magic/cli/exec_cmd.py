"""``semcache exec FILE.py``: run a file in an isolated kernel (placeholder until the runner lands)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Nothing yet: the kernel runner work adds ``semcache exec`` here."""
