"""One run's card in the HTML report: verdict badge, reason, metrics, evidence, fix, stacks.

Job: HTML fragments for a single run entry. Every value that came from a run (names,
reasons, evidence, hints, stacks) goes through `esc`; nothing here builds markup from
unescaped input.

Must not import: mlx, the runner, matplotlib.
"""

from __future__ import annotations

import html
import json
import re

from ..judging.hints import EVAL_STATE
from .tones import label, tone

METRICS = (("steps", "steps", "{:d}"), ("wall_s", "wall time", "{:.1f} s"),
           ("step_ms_median", "median step", "{:.3g} ms"),
           ("first_step_ms", "first step", "{:.4g} ms"),
           ("peak_rss_mb", "peak RSS", "{:.0f} MB"),
           ("peak_device_mb", "peak GPU memory", "{:.0f} MB"),
           ("peak_mx_active_mb", "peak MLX active", "{:.2f} MB"),
           ("loss_first", "first loss", "{:.4g}"),
           ("loss_last", "last loss", "{:.4g}"), ("exit_code", "exit code", "{}"),
           ("signal", "signal", "{}"))
STACK_CHARS = 30_000  # the tail of a stack dump that is shown
LONG_VALUE = 100  # evidence strings longer than this (or multi-line) are shown as blocks
CODE = re.compile(r"`([^`]+)`")


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def badge(entry: dict) -> str:
    """The verdict badge; a mismatch is outlined and says what was expected."""
    kind = str(entry.get("verdict"))
    mark = "ok" if entry.get("matched") else "mismatch"
    title = label(entry) + (f" (expected {entry['expected']})" if entry.get("expected") else "")
    return (f'<span class="badge tone-{tone(kind)} {mark}" data-verdict="{esc(kind)}" '
            f'title="{esc(title)}">{esc(label(entry))}</span>')


def card(entry: dict, heading: str, color: str) -> str:
    """A run's whole card; `heading` is plain text (escaped here)."""
    parts = [f'<h3><span class="swatch" style="background:{color}"></span>{esc(heading)}</h3>',
             f'<p>{badge(entry)} <span class="expect">{_expectation(entry)}</span></p>',
             f'<p class="reason">{esc(entry.get("reason", ""))}</p>', metrics(entry),
             evidence(entry.get("evidence") or {}), fix(str(entry.get("hint") or "")),
             stacks(entry.get("stacks") or {})]
    css = "run" + ("" if entry.get("matched") else " mismatch")
    return f'<article class="{css}" data-verdict="{esc(entry.get("verdict"))}">' \
           + "".join(parts) + "</article>"


def _expectation(entry: dict) -> str:
    """"matches expected X" for a scenario; for a watched program, how it was watched."""
    if entry.get("expected") is None:
        sources = ", ".join(entry.get("sources") or []) or "none"
        return f"your program, watched through: {esc(sources)}"
    matched = "matches" if entry.get("matched") else "does NOT match"
    return f'{matched} expected <code>{esc(entry.get("expected"))}</code>'


def metrics(entry: dict) -> str:
    values = entry.get("metrics") or {}
    cells = [f"<dt>{name}</dt><dd>{esc(_format(fmt, values[key]))}</dd>"
             for key, name, fmt in METRICS if values.get(key) is not None]
    return '<dl class="metrics">' + "".join(cells) + "</dl>"


def _format(fmt: str, value: object) -> str:
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def evidence(data: dict) -> str:
    """Evidence and thresholds as a key/value table (nested keys joined with dots)."""
    rows = [f"<tr><th>{esc(key)}</th><td>{_value(value)}</td></tr>"
            for key, value in flatten(data)]
    if not rows:
        return ""
    return ('<details class="evidence" open><summary>evidence and thresholds</summary>'
            '<table>' + "".join(rows) + "</table></details>")


def flatten(data: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(data, dict) and data:
        out: list[tuple[str, object]] = []
        for key, value in data.items():
            out += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    return [(prefix, data)]


def _value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > LONG_VALUE or "\n" in text:
        return f"<pre>{esc(text)}</pre>"
    return f"<code>{esc(text)}</code>"


def fix(hint: str) -> str:
    """The fix hint: prose with `code` spans, then its code as a copyable snippet."""
    if not hint:
        return ""
    prose = "".join(esc(part) if i % 2 == 0 else f"<code>{esc(part)}</code>"
                    for i, part in enumerate(CODE.split(hint)))
    snippets = CODE.findall(hint) + ([EVAL_STATE] if EVAL_STATE in hint else [])
    code = "".join(f"{esc(s)}\n" for s in dict.fromkeys(snippets))
    block = f'<pre class="snippet"><code>{code}</code></pre>' if code else ""
    return f'<div class="fix"><h4>fix</h4><p>{prose}</p>{block}</div>'


def stacks(data: dict) -> str:
    """A hang's Python and native stacks, each collapsed."""
    parts = []
    for kind, text in data.items():
        text = str(text or "").strip() or "(not taken)"
        lines = text.count("\n") + 1
        shown = text[-STACK_CHARS:]
        parts.append(f'<details class="stack" data-kind="{esc(kind)}"><summary>{esc(kind)} '
                     f'stacks ({lines} lines)</summary><pre>{esc(shown)}</pre></details>')
    return "".join(parts)
