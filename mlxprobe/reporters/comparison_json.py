"""A comparison as JSON (`compare --json`, `gate --json`): what the terminal table says, for
tools.

Shape: {"schema": 1, "kind": "comparison", "failed", "headline", "sides", "metrics_compared",
"problems", "warnings", "base_fingerprint", "head_fingerprint", "alpha", "changes": [{"scenario",
"variant", "expected", "base", "head", "status", "kind", "regressed", "explain", "reason",
"note", "why_expected", "metrics": [{"name", "label", "base", "head", "ratio", "state", "p",
"runs", "detail"}]}]}. Infinite ratios are written as null (JSON has no infinity).

Must not import: mlx, the runner.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict

from ..gating.comparison import Comparison, VariantChange
from .changes import explain, headline, sides

SCHEMA = 1


def render(comparison: Comparison) -> str:
    data = {"schema": SCHEMA, "kind": "comparison", "failed": comparison.failed,
            "headline": headline(comparison), "sides": sides(comparison),
            "metrics_compared": comparison.metrics_compared,
            "problems": list(comparison.problems), "warnings": list(comparison.warnings),
            "base_fingerprint": comparison.base_fingerprint,
            "head_fingerprint": comparison.head_fingerprint, "alpha": comparison.alpha,
            "changes": [_change(c, comparison.alpha) for c in comparison.changes]}
    return json.dumps(_finite(data), indent=1) + "\n"


def _change(change: VariantChange, alpha: float) -> dict:
    out = asdict(change)
    out.update(kind=change.kind, regressed=change.regressed, explain=explain(change, alpha))
    return out


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
