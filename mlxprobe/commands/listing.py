"""`mlxprobe list`: scenario ids, variants with expected verdicts, one-line titles.

Must not import: mlx, the child side.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..launching import catalog

NAME = "list"
HELP = "list scenarios, their variants and expectations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenarios", type=Path, help="a folder of scenario modules")


def run(args: argparse.Namespace) -> int:
    for s in catalog.discover(args.scenarios):
        expected = ", ".join(f"{v}={e}" for v, e in s.variants.items())
        print(f"{s.id:32s} {expected:45s} {s.title}")
    return 0
