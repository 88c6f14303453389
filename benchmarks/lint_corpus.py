"""Score `mlxprobe lint` on a half of the failure corpus (issue 21): the share of broken
scripts whose bug leaves a source mark (`lint_mark = true`) that get a finding, and the
findings on every script that must be clean (the fixed twins, the correct loops).

    PYTHONPATH=. python benchmarks/lint_corpus.py [corpus/dev]

A lint-only half (`lint_cases.toml`, e.g. corpus/lintheld1: the catalogue's rule families
spelled anew by builders who never saw the rules) counts a broken script as found only when
the rule of its `family` fires. Prints one line per script and the two scores; exit 1 when a
clean script has a finding or fewer than 80 % of the marked broken scripts are found.
Must not import: mlx.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from mlxprobe.lint import lint_source

TARGET = 0.8


def findings(path: Path) -> list[str]:
    """The script's findings; a script Python cannot parse is reported as the CLI reports it,
    `cannot parse` at its line (fresh133 `dpo_metrics_eval_unclosed`: its bug is the syntax
    error)."""
    try:
        return [f"{f.rule}:{f.line}" for f in lint_source(path.read_text(), str(path))]
    except SyntaxError as error:
        return [f"parse:{error.lineno}"]


def score(folder: Path) -> tuple[list[tuple[str, bool, list[str]]], list[tuple[str, list[str]]]]:
    """(broken name, found, findings) per marked failure; (clean name, findings) per script
    that must stay silent."""
    return marked(folder), silent(folder)


def marked(folder: Path) -> list[tuple[str, bool, list[str]]]:
    """(broken name, found, findings) per failure whose bug leaves a source mark; in a
    lint-only half only a finding of the case's `family` counts."""
    out = []
    for case in cases(folder):
        if case.get("kind") != "correct" and case.get("lint_mark"):
            found = findings(folder / case["broken"])
            out.append((case["broken"], any(f.startswith(case.get("family", "")) for f in found),
                        found))
    return out


def silent(folder: Path) -> list[tuple[str, list[str]]]:
    """(name, findings) per script that must stay silent: the fixed twins, the correct loops."""
    names = [case["script"] if case.get("kind") == "correct" else case["ok"]
             for case in cases(folder)]
    return [(name, findings(folder / name)) for name in names]


def cases(folder: Path) -> list[dict]:
    """A half's cases: `cases.toml` (the failure corpus, also scored by `accuracy.py`) or
    `lint_cases.toml` (a lint-only half: each broken script names the rule `family` whose
    bug it holds, and only a finding of that rule counts)."""
    path = folder / "cases.toml"
    path = path if path.is_file() else folder / "lint_cases.toml"
    return tomllib.loads(path.read_text())["case"]


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus/dev")
    if not any((folder / n).is_file() for n in ("cases.toml", "lint_cases.toml")):
        print(f"lint_corpus: {folder} holds no cases.toml or lint_cases.toml: give one half's "
              "folder, e.g. corpus/dev", file=sys.stderr)
        return 2
    broken, clean = score(folder)
    for name, found, what in broken:
        print(f"{'found ' if found else 'MISSED'} {name} {' '.join(what)}")
    for name, what in clean:
        print(f"{'clean ' if not what else 'FALSE '} {name} {' '.join(what)}")
    hits = sum(found for _, found, _ in broken)
    false = [name for name, what in clean if what]
    rate = hits / len(broken) if broken else 1.0
    print(f"fired on {hits} of {len(broken)} marked broken scripts ({rate:.0%}, target >= "
          f"{TARGET:.0%}); findings on {len(false)} of {len(clean)} clean scripts (target 0)")
    return 0 if rate >= TARGET and not false else 1


if __name__ == "__main__":
    sys.exit(main())
