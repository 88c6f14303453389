"""How long rendering a report takes and how big the files are (printed, never asserted).

    python benchmarks/report_render.py RUN.json [--repeat 3]

Prints the JSON's size, then for the HTML page (matplotlib import counted separately) and
the Markdown summary: the best wall time over the repeats and the output size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from mlxprobe.reporters import html, summary_md
from mlxprobe.results import report


def best_of(repeat: int, render) -> tuple[float, str]:  # noqa: ANN001 - () -> str
    times, text = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        text = render()
        times.append(time.perf_counter() - started)
    return min(times), text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = report.load(args.report)
    started = time.perf_counter()
    html.require()
    import matplotlib.figure  # noqa: F401 - the one-off import cost, measured on its own

    imported = time.perf_counter() - started
    runs = len(data["runs"])
    scenarios = len({e["scenario"] for e in data["runs"]})
    print(f"report: {args.report} ({args.report.stat().st_size / 1024:.0f} KiB JSON, "
          f"{runs} runs, {scenarios} scenarios)")
    print(f"matplotlib import: {imported:.2f} s")
    for name, render in (("html", lambda: html.render(data)),
                         ("markdown", lambda: summary_md.render(data))):
        seconds, text = best_of(args.repeat, render)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"report.{name}"
            out.write_text(text, encoding="utf-8")
            size = out.stat().st_size
        print(f"{name}: {seconds:.2f} s (best of {args.repeat}), {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
