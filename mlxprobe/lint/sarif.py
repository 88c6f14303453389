"""Findings as SARIF 2.1.0, the format GitHub code scanning shows inline on pull requests.

Job: one run, the rule table as the driver's rules, one result per finding with a relative
`artifactLocation.uri` (GitHub resolves it from the repository root), parse errors as tool
notifications.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import json
from pathlib import Path

from .catalogue import RULES
from .finding import Finding
from .report import see

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/mlxprobe/mlxprobe#lint"


def uri(path: str) -> str:
    """A repository-relative URI where the path is under the working folder."""
    if path == "-":
        return "stdin"
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_uri()


def rule(rule_id: str) -> dict[str, object]:
    info = RULES[rule_id]
    return {"id": info.id, "name": info.name.title().replace("-", ""),
            "shortDescription": {"text": info.message},
            "fullDescription": {"text": info.why},
            "help": {"text": f"Fix: {info.fix}\nSee: {see(rule_id)}",
                     "markdown": f"Fix: `{info.fix}`\n\nSee: `{see(rule_id)}`"},
            "defaultConfiguration": {"level": "warning"},
            "properties": {"tags": ["mlx", "correctness"], "precision": "high"}}


def result(f: Finding, index: dict[str, int]) -> dict[str, object]:
    region = {"startLine": f.line, "startColumn": f.col + 1}
    return {"ruleId": f.rule, "ruleIndex": index[f.rule], "level": "warning",
            "message": {"text": f"{f.message}. Fix: {RULES[f.rule].fix}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(f.path)},
                                                "region": region}}]}


def notification(error: str) -> dict[str, object]:
    return {"level": "error", "message": {"text": error}}


def as_sarif(findings: list[Finding], errors: list[str], version: str) -> str:
    ids = sorted(RULES)
    index = {rule_id: i for i, rule_id in enumerate(ids)}
    run = {"tool": {"driver": {"name": "mlxprobe-lint", "version": version,
                               "informationUri": INFO_URI, "rules": [rule(r) for r in ids]}},
           "results": [result(f, index) for f in findings],
           "invocations": [{"executionSuccessful": not errors,
                            "toolExecutionNotifications": [notification(e) for e in errors]}]}
    return json.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2)
