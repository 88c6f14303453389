"""`mlxprobe compare BASE.json HEAD.json`: verdict changes, then metric regressions.

Exit 0 when nothing regressed, 1 on a regression (a verdict that stopped matching, a
variant of BASE missing from HEAD, a partial report on either side, or a metric worse than
its threshold and, for timings, confirmed by the rank test), 2 for a usage error
(unreadable report, newer schema, bad threshold, a selection that matches nothing).
`--scenario ID` / `--variant NAME` narrow both reports first, `--allow-missing` lets HEAD
lack variants of BASE. `--markdown PATH`, `--junit PATH` and `--json PATH` write the same
result for a CI step summary, a test-results view and tools (`-`: stdout); `--no-color` as
for `run`.

Must not import: mlx, the child side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from ..gating import comparison
from ..gating.comparison import Comparison
from ..reporters import ansi, changes, comparison_json, html, junit, markdown
from ..results import report, textfile
from .options import positive

NAME = "compare"
HELP = "compare two reports: verdict changes, then metric regressions"
EXIT_OK, EXIT_REGRESSION = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", type=Path, metavar="BASE.json", help="the baseline report")
    parser.add_argument("head", type=Path, metavar="HEAD.json", help="the report to judge")
    parser.add_argument("--scenario", action="append", metavar="ID", help="compare only these "
                        "scenarios (repeatable; as given to `mlxprobe run`)")
    parser.add_argument("--variant", help="compare only this variant")
    add_output_arguments(parser)
    parser.add_argument("--html", type=Path, metavar="PATH", help="write an HTML page with "
                        "plots: baseline against head, side by side (needs matplotlib)")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Thresholds and outputs, shared with `mlxprobe gate`."""
    names = ", ".join(f"{n} ({t.ratio:g}:{t.floor:g})"
                      for n, t in comparison.DEFAULT_THRESHOLDS.items())
    parser.add_argument("--threshold", action="append", default=[], metavar="NAME=RATIO[:FLOOR]",
                        help=f"repeatable; defaults: {names}")
    parser.add_argument("--alpha", type=probability, default=comparison.DEFAULT_ALPHA,
                        help="rank-test level for timing regressions (default %(default)s)")
    parser.add_argument("--markdown", type=Path, metavar="PATH",
                        help="write a markdown summary (e.g. \"$GITHUB_STEP_SUMMARY\"; - for "
                        "stdout, the table then goes to stderr)")
    parser.add_argument("--junit", type=Path, metavar="PATH", help="write JUnit XML")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the comparison as "
                        "JSON (- for stdout, the table then goes to stderr)")
    parser.add_argument("--no-color", action="store_true",
                        help="no colour in the terminal (also: NO_COLOR=1)")
    parser.add_argument("--allow-missing", action="store_true", help="a variant of BASE that "
                        "HEAD lacks is not a failure (default: it is, it was not checked)")


def probability(text: str) -> float:
    value = positive(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be below 1")
    return value


def thresholds_from(args: argparse.Namespace) -> dict[str, comparison.Threshold]:
    chosen = dict(comparison.DEFAULT_THRESHOLDS)
    for text in args.threshold:
        name, threshold = comparison.parse_threshold(text, comparison.DEFAULT_THRESHOLDS)
        chosen[name] = threshold
    return chosen


def check_stdout(args: argparse.Namespace) -> None:
    """One output at most on stdout (`-`): two would interleave."""
    if str(args.markdown) == "-" and str(args.json) == "-":
        raise UsageError("--markdown - and --json - both want stdout: give one of them a file")


def judge(args: argparse.Namespace, base: dict, head: dict, title: str = "mlxprobe compare",
          notes: str = "") -> Comparison:
    """Compare, print, write the outputs (markdown + `notes`). Shared with `mlxprobe gate`."""
    base, head = narrowed(args, base, "BASE"), narrowed(args, head, "HEAD")
    result = comparison.compare(base, head, thresholds_from(args), args.alpha,
                                args.allow_missing)
    to_stdout = "-" in (str(args.markdown), str(args.json))  # stdout carries that alone
    stream = sys.stderr if to_stdout else sys.stdout
    print(changes.render(result, ansi.color_wanted(stream, args.no_color)), file=stream)
    write_outputs(args, result, title, notes)
    return result


def narrowed(args: argparse.Namespace, data: dict, side: str) -> dict:
    """The report narrowed to `--scenario`/`--variant` (unchanged when neither is given)."""
    if not args.scenario and not args.variant:
        return data
    return comparison.narrow(data, side, args.scenario, args.variant, strict=side == "BASE")


def exit_code(result: Comparison) -> int:
    return EXIT_REGRESSION if result.failed else EXIT_OK


def write_outputs(args: argparse.Namespace, result: Comparison, title: str,
                  notes: str = "") -> None:
    if str(args.markdown) == "-":
        sys.stdout.write(markdown.render(result, title) + notes)
    elif args.markdown:
        textfile.write(args.markdown, markdown.render(result, title) + notes)
    if args.junit:
        textfile.write(args.junit, junit.render(result, title))
    if str(args.json) == "-":
        sys.stdout.write(comparison_json.render(result))
    elif args.json:
        textfile.write(args.json, comparison_json.render(result))


def run(args: argparse.Namespace) -> int:
    thresholds_from(args)  # a bad --threshold is a usage error before any file is read
    check_stdout(args)
    if args.html:
        html.require()
    base, head = report.load(args.base), report.load(args.head)
    result = judge(args, base, head)
    if args.html:
        html.write(args.html, narrowed(args, head, "HEAD"), narrowed(args, base, "BASE"), result)
    return exit_code(result)
