"""Verdict tones: which verdicts are good, bad or a warning, shared by every reporter.

Job: one place that maps a verdict kind to a tone ("good", "bad", "warn", "none"), so the
terminal, the HTML page and the markdown summary colour the same verdict the same way.

Must not import: mlx, the runner, anything with side effects.
"""

from __future__ import annotations

TONES = {"pass": "good", "hang": "bad", "crash": "bad", "leak": "warn", "diverged": "warn",
         "not_learning": "warn", "no_update": "warn", "wrong_result": "warn",
         "progressing": "good", "finished": "good"}  # the last two: `attach`


def tone(verdict: str | None) -> str:
    """The tone of a verdict kind; "none" for a missing or unknown one."""
    return TONES.get(str(verdict), "none")


def label(entry: dict) -> str:
    """"kind:detail" (or "kind") of a run entry."""
    detail = entry.get("detail")
    return f"{entry.get('verdict')}:{detail}" if detail else str(entry.get("verdict"))
