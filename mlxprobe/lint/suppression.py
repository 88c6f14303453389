"""Comments that silence a finding on their line: `# noqa`, `# noqa: MLX001,MLX004` and
`# mlxprobe: ignore[MLX001]` (honoured by the CLI and the flake8 plugin alike).

Job: map line numbers to the rule ids (or prefixes) silenced there.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import re

from .finding import Finding

NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]*(?:[,\s]+[A-Z]+[0-9]*)*))?",
                  re.IGNORECASE)
IGNORE = re.compile(r"#\s*mlxprobe:\s*ignore\[(?P<codes>[A-Z0-9,\s]+)\]", re.IGNORECASE)
ALL = "*"


def codes(text: str | None) -> set[str]:
    return {c.upper() for c in re.split(r"[,\s]+", text or "") if c}


def silenced(line: str) -> set[str]:
    """Rule ids or prefixes silenced on this line; {"*"} for a bare `# noqa`."""
    if "#" not in line:
        return set()
    found: set[str] = set()
    for match in NOQA.finditer(line):
        found |= codes(match.group("codes")) or {ALL}
    for match in IGNORE.finditer(line):
        found |= codes(match.group("codes"))
    return found


def is_silenced(finding: Finding, lines: list[str]) -> bool:
    if not 0 < finding.line <= len(lines):
        return False
    marks = silenced(lines[finding.line - 1])
    return ALL in marks or any(finding.rule.startswith(m) for m in marks)
