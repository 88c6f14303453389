"""`mlxprobe report RUN.json`: render a saved JSON report as HTML, Markdown or the table.

`--html PATH` writes the self-contained HTML page (with `--baseline OLD.json`: baseline
against RUN.json as the candidate); `--markdown PATH` the CI summary (`-` for stdout).
With neither, prints the terminal table. Exit 0, or 2 for a bad or missing report.

Must not import: mlx, the child side, the runner.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..reporters import ansi, html, summary_md, table
from ..results import report, textfile

NAME = "report"
HELP = "render a JSON report as HTML, Markdown or a table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", type=Path, metavar="RUN.json", help="a `run --json` report")
    parser.add_argument("--html", type=Path, metavar="PATH",
                        help="write a self-contained HTML page with plots (needs matplotlib)")
    parser.add_argument("--markdown", metavar="PATH",
                        help="write the Markdown summary ('-' for stdout)")
    parser.add_argument("--baseline", type=Path, metavar="OLD.json",
                        help="HTML: show this report as the baseline against RUN.json")
    parser.add_argument("--no-color", action="store_true",
                        help="no colour in the table (also: NO_COLOR=1)")


def run(args: argparse.Namespace) -> int:
    candidate = report.load(args.report)
    baseline = report.load(args.baseline) if args.baseline else None
    if args.html:
        html.write(args.html, candidate, baseline)
    if args.markdown:
        _markdown(args.markdown, candidate)
    if not args.html and not args.markdown:
        runs = candidate["runs"]
        programs = all("program" in r for r in runs)  # watch/attach: no expectation
        print(table.render(runs, color=ansi.color_wanted(sys.stdout, args.no_color),
                           expectation=not programs))
        print("\n" + table.summary(runs))
        if candidate.get("complete") is False:
            print(summary_md.partial_line(candidate))
    return 0


def _markdown(target: str, data: dict) -> None:
    text = summary_md.render(data)
    if target == "-":
        sys.stdout.write(text)
    else:
        textfile.write(Path(target), text)
