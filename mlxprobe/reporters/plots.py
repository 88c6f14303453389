"""Plots: one scenario's per-step series as an inline SVG, drawn by matplotlib.

Job: turn run entries' `series` (step, step_ms, loss, rss_mb, mx_active_mb) into one SVG
figure with four panels (loss, step time, RSS, MLX active memory), one line per run, the
stall of a hang marked. No user-supplied text goes into the SVG: names and legends are the
HTML page's job (where they are escaped). matplotlib is imported lazily (`require`), so the
CLI loads fast and works without it; it is the `html` extra.

Must not import: mlx, the runner, pyplot (no global figure state; Figure is thread-safe
enough for one render at a time and needs no display).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from ..errors import UsageError

PANELS = (("loss", "loss"), ("step_ms", "step time (ms, log scale)"),
          ("rss_mb", "process RSS (MB)"), ("mx_active_mb", "MLX active memory (MB)"))
DEVICE_PANEL = ("device_mb", "GPU memory (MB, NVML)")  # beside RSS, where a run has it
FIGSIZE = (13.0, 2.7)  # inches; the page scales the SVG to its column width
MARGINS = {"left": 0.04, "right": 0.995, "bottom": 0.17, "top": 0.9, "wspace": 0.22}
LOG_SPAN = 1000.0  # a loss panel whose values span more than this factor uses a log scale
INSTALL_HINT = "pip install 'mlxprobe[html]'"


@dataclass(frozen=True)
class Line:
    """One run's series as drawn: colour and dash chosen by the page."""

    series: dict
    color: str
    dashed: bool = False
    stall: tuple[float, float] | None = None  # (last step, stalled ms) of a hang


def require() -> None:
    """UsageError (one line) when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"HTML reports need matplotlib, which is not installed: "
                         f"{INSTALL_HINT}") from None


def figure_svg(lines: list[Line]) -> str:
    """The four panels for these runs as an `<svg>` element (no XML prologue)."""
    require()
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9,
                                "axes.spines.top": False, "axes.spines.right": False}):
        panels = list(PANELS)
        if any(math.isfinite(v) for line in lines for v in values(line.series, "device_mb")):
            panels.insert(3, DEVICE_PANEL)
        width = FIGSIZE[0] * len(panels) / len(PANELS)
        fig = Figure(figsize=(width, FIGSIZE[1]))
        fig.subplots_adjust(**MARGINS)  # fixed: a layout engine would double the time
        for ax, (key, title) in zip(fig.subplots(1, len(panels)), panels):
            _panel(ax, key, title, lines)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _panel(ax, key: str, title: str, lines: list[Line]) -> None:  # noqa: ANN001 - Axes
    ax.set_title(title, loc="left", fontsize=9)
    ax.set_xlabel("step")
    ax.grid(True, alpha=0.25)
    drawn = [_draw(ax, key, line) for line in lines]
    for line in lines:
        if line.stall is not None:
            _mark_stall(ax, key, line)
    if not any(drawn):
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center",
                color="#888888")
        ax.set_yticks([])
        return
    _scale(ax, key, [v for line in lines for v in values(line.series, key)])


def _draw(ax, key: str, line: Line) -> bool:  # noqa: ANN001 - Axes
    """Draw one run's series (and its stall on the step-time panel); False if no data.
    A watched program's loss may come from another source than its steps (mlx-lm's
    callback, output lines): then it has its own steps (`loss_at`)."""
    source = line.series.get("loss_at") if key == "loss" else None
    source = source or line.series
    steps, ys = steps_of(source), values(source, key)
    style = {"color": line.color, "linewidth": 1.3, "linestyle": "--" if line.dashed else "-",
             "alpha": 0.75 if line.dashed else 1.0}
    if not any(math.isfinite(y) for y in ys) and line.stall is None:
        return False
    ax.plot(steps, ys, marker="o" if len(ys) == 1 else None, markersize=3, **style)
    return True


def _mark_stall(ax, key: str, line: Line) -> None:  # noqa: ANN001 - Axes
    step, stalled_ms = line.stall  # type: ignore[misc]
    ax.axvline(step, color=line.color, linestyle=":", linewidth=1.0)
    if key == "step_ms":
        ax.plot([step], [stalled_ms], marker="X", markersize=8, color=line.color)
        low, high = ax.get_xlim()
        right = step < (low + high) / 2  # the label goes towards the middle of the panel
        ax.annotate(f"stalled {stalled_ms / 1000:.1f} s, killed", (step, stalled_ms),
                    textcoords="offset points", xytext=(6 if right else -6, -3),
                    ha="left" if right else "right", va="top", fontsize=8, color=line.color)


def _scale(ax, key: str, ys: list[float]) -> None:  # noqa: ANN001 - Axes
    finite = [y for y in ys if math.isfinite(y)]
    if key == "step_ms" and any(y > 0 for y in finite):
        _log_axis(ax)
    elif key == "loss" and finite and min(finite) > 0 and max(finite) / min(finite) > LOG_SPAN:
        _log_axis(ax)


def _log_axis(ax, dense: bool = True) -> None:  # noqa: ANN001 - Axes
    """A log y axis labelled 1, 2, 5, 10, ... in plain numbers (no 10^x minor labels);
    not `dense`: powers of ten only (a span of many decades)."""
    from matplotlib import ticker

    ax.set_yscale("log")
    subs = (1.0, 2.0, 5.0) if dense else (1.0,)
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _span(ys: list[float]) -> float:
    """max / min of the positive finite values (1.0 when there are none)."""
    finite = [y for y in ys if math.isfinite(y) and y > 0]
    return max(finite) / min(finite) if finite else 1.0


def steps_of(series: dict) -> list[float]:
    """The x axis: the recorded step numbers (1, 2, ... where a record had none)."""
    raw = series.get("step") or []
    return [float(s) if _is_number(s) else float(i + 1) for i, s in enumerate(raw)]


def values(series: dict, key: str) -> list[float]:
    """A series as floats aligned with `steps_of`: NaN (a gap) where missing or non-finite;
    step times must be > 0 (log scale)."""
    size = len(series.get("step") or [])
    out = [_as_float(v) for v in (series.get(key) or [])][:size]
    if key == "step_ms":
        out = [v if v > 0 else math.nan for v in out]
    return out + [math.nan] * (size - len(out))


def _as_float(value: object) -> float:
    if _is_number(value) and math.isfinite(value):  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]
    return math.nan


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


BAND_COLORS = {"baseline": "#1f77b4", "candidate": "#ff7f0e"}
CURVE_FIGSIZE = (6.5, 2.9)


def band_svg(steps: list[float], low: list[float], high: list[float],
             runs: list[tuple[str, list[float]]], medians: list[tuple[str, list[float]]],
             log_scale: bool) -> str:
    """The learning curve of a comparison as an `<svg>`: every run of both sides (thin),
    each side's median (thick; the baseline dashed) and the baseline's noise band shaded.
    `runs` and `medians` are (side, losses at `steps`), side "baseline" or "candidate"."""
    require()
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9,
                                "axes.spines.top": False, "axes.spines.right": False}):
        fig = Figure(figsize=CURVE_FIGSIZE)
        fig.subplots_adjust(left=0.1, right=0.98, bottom=0.17, top=0.88)
        ax = fig.subplots()
        ax.set_title("learning curve: baseline band shaded", loc="left", fontsize=9)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.25)
        ax.fill_between(steps, low, high, color=BAND_COLORS["baseline"], alpha=0.18,
                        linewidth=0, label="baseline noise band")
        for side, ys in runs:
            ax.plot(steps, ys, color=BAND_COLORS[side], linewidth=0.7, alpha=0.45,
                    linestyle="--" if side == "baseline" else "-")
        for side, ys in medians:
            ax.plot(steps, ys, color=BAND_COLORS[side], linewidth=2.0,
                    linestyle="--" if side == "baseline" else "-", label=f"{side} median")
        if log_scale:
            _log_axis(ax, dense=_span(low + high) <= LOG_SPAN)
        ax.legend(loc="upper right", fontsize=8, frameon=False)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]
