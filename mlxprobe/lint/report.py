"""Findings as text for people and as JSON for tools (SARIF is in `sarif`).

Job: render; never decide what is a finding.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import json

from .catalogue import RULES
from .finding import Finding


def see(rule: str) -> str:
    """Where to see the bug happen: the catalogue scenario, else the public report."""
    info = RULES[rule]
    return f"mlxprobe run --scenario {info.scenario}" if info.scenario else info.source


def text(findings: list[Finding]) -> str:
    """`file:line:col: MLX0NN message`, then the fix and where to see it, per finding."""
    out = []
    for f in findings:
        out.append(f"{f.path}:{f.line}:{f.col + 1}: {f.rule} {f.message}")
        out.append(f"    fix: {RULES[f.rule].fix}")
        out.append(f"    see: {see(f.rule)}")
    return "\n".join(out)


def summary(findings: list[Finding], files: int, errors: int) -> str:
    fixable = sum(1 for f in findings if f.edit)
    parts = [f"{len(findings)} finding{'s' * (len(findings) != 1)} in {files} "
             f"file{'s' * (files != 1)}"]
    if fixable:
        parts.append(f"{fixable} fixable with --fix")
    if errors:
        parts.append(f"{errors} file{'s' * (errors != 1)} not checked")
    return "; ".join(parts)


def as_dict(f: Finding) -> dict[str, object]:
    info = RULES[f.rule]
    return {"rule": f.rule, "name": info.name, "path": f.path, "line": f.line,
            "column": f.col + 1, "message": f.message, "fix": info.fix,
            "scenario": info.scenario, "see": see(f.rule), "fixable": f.edit is not None,
            "source": info.source}


def as_json(findings: list[Finding], files: int, errors: list[str]) -> str:
    return json.dumps({"files": files, "findings": [as_dict(f) for f in findings],
                       "errors": errors}, indent=2)
