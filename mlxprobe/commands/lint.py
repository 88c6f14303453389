"""`mlxprobe lint PATH...`: the catalogue's failure modes found statically in source code.

Prints `file:line:col: MLX0NN message`, the fix and the scenario that shows the bug, or JSON
or SARIF (`--format`). `--select`/`--ignore` take rule ids or prefixes; `--fix` applies the
rewrites the rule table marks safe. Exit 0 clean, 1 findings, 2 a usage error or a file that
could not be read or parsed (one line on stderr naming it; the other files are checked).

Must not import: mlx, the child side, the runner (the lint starts in milliseconds).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from ..lint import discovery, fixer, notebook, report, sarif
from ..lint.catalogue import RULES
from ..lint.engine import lint_source, many_files
from ..lint.finding import Finding
from ..lint.flake8_plugin import VERSION
from ..results import textfile

NAME = "lint"
HELP = "find known MLX training-loop bugs in source code (no MLX needed)"
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def rule_ids(text: str) -> list[str]:
    """A comma-separated list of rule ids or prefixes, each checked against the table."""
    ids = [t.strip().upper() for t in text.split(",") if t.strip()]
    for rule in ids:
        if not any(r.startswith(rule) for r in RULES):
            raise argparse.ArgumentTypeError(f"no rule matches {rule!r} (known: MLX001..."
                                             f"{max(RULES)})")
    return ids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files, folders (their *.py and *.ipynb) or - for stdin")
    parser.add_argument("--explain", type=rule_id, metavar="MLXnnn",
                        help="print a rule's why (measured), its fix and its source, and exit")
    parser.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    parser.add_argument("--select", type=rule_ids, metavar="IDS",
                        help="only these rules (ids or prefixes, comma-separated)")
    parser.add_argument("--ignore", type=rule_ids, metavar="IDS", help="skip these rules")
    parser.add_argument("--fix", action="store_true",
                        help="apply the safe rewrites (MLX001, MLX004) in place")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the findings "
                        "as JSON here (what --format json prints), whatever --format prints")
    parser.add_argument("--no-color", action="store_true", help="accepted as by every "
                        "command that prints a report; the lint's output has no colour")


def rule_id(text: str) -> str:
    """One exact rule id, checked against the table."""
    rule = text.strip().upper()
    if rule not in RULES:
        raise argparse.ArgumentTypeError(f"no rule {text!r} (known: MLX001...{max(RULES)})")
    return rule


def explain(rule: str) -> str:
    info = RULES[rule]
    seen = f"mlxprobe run --scenario {info.scenario}" if info.scenario else "-"
    return "\n".join([f"{info.id} {info.name}: {info.message}", f"why:    {info.why}",
                      f"fix:    {info.fix}", f"source: {info.source or '-'}",
                      f"see:    {seen}", f"--fix:  {'yes' if info.autofix else 'no'}"])


def run(args: argparse.Namespace) -> int:
    if args.explain:
        print(explain(args.explain))
        return EXIT_CLEAN
    if not args.paths:
        raise UsageError("no PATH to lint: give files or folders (or - for stdin), or "
                         "--explain MLXnnn")
    if args.fix and "-" in args.paths:
        raise UsageError("--fix rewrites files in place; it cannot take stdin (-)")
    if args.json:
        textfile.writable_file(args.json)  # before the files are read
    findings: list[Finding] = []
    errors: list[str] = []
    files = 0
    with many_files():
        for name, path in discovery.expand(args.paths):
            try:
                findings += check_file(name, path, args)
                files += 1
            except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
                errors.append(error_line(name, exc))
    emit(args.format, findings, files, errors)
    if args.json:
        textfile.write(args.json, report.as_json(findings, files, errors) + "\n")
    if errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if findings else EXIT_CLEAN


def check_file(name: str, path: Path | None, args: argparse.Namespace) -> list[Finding]:
    """One file's findings (after `--fix`, what is left); raises if it cannot be checked."""
    text = discovery.read(name, path)
    if name.endswith(notebook.SUFFIX):
        code, where = notebook.script(text)
        return [notebook.locate(f, name, where)
                for f in lint_source(code, name, args.select, args.ignore)]
    found = lint_source(text, name, args.select, args.ignore)
    return fix(path, text, found, args) if args.fix and path is not None else found


def error_line(name: str, exc: Exception) -> str:
    """One line naming the file and why it was not checked."""
    if isinstance(exc, SyntaxError):
        return f"{name}:{exc.lineno or 0}: cannot parse: {exc.msg}"
    if isinstance(exc, OSError):
        return f"{name}: cannot read: {exc.strerror or exc}"
    return f"{name}: cannot check: {exc}"


def fix(path: Path, text: str, found: list[Finding], args: argparse.Namespace) -> list[Finding]:
    """Apply the safe edits, write the file, and lint it again for what is left."""
    fixed, applied = fixer.apply(text, found)
    if not applied:
        return found
    path.write_text(fixed, encoding="utf-8")
    print(f"{path}: applied {applied} fix{'es' * (applied != 1)}", file=sys.stderr)
    return lint_source(fixed, str(path), args.select, args.ignore)


def emit(form: str, findings: list[Finding], files: int, errors: list[str]) -> None:
    for error in errors:
        print(f"mlxprobe: error: {error}", file=sys.stderr)
    if form == "json":
        print(report.as_json(findings, files, errors))
    elif form == "sarif":
        print(sarif.as_sarif(findings, errors, VERSION))
    else:
        if findings:
            print(report.text(findings))
        print(report.summary(findings, files, len(errors)), file=sys.stderr)
