"""`mlxprobe list`: scenario ids, variants with expected verdicts, one-line titles, [tags].

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
    parser.add_argument("--tag", action="append", metavar="TAG",
                        help="only scenarios carrying this tag (repeatable)")


def run(args: argparse.Namespace) -> int:
    scenarios = catalog.discover(args.scenarios)
    if args.tag:
        scenarios = catalog.with_tags(scenarios, args.tag)
    for s in scenarios:
        expected = ", ".join(f"{v}={e}" for v, e in s.variants.items())
        tags = f" [{', '.join(s.tags)}]" if s.tags else ""
        print(f"{s.id:32s} {expected:45s} {s.title}{tags}")
    return 0
