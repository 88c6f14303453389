"""Benchmark: `mlxprobe lint` over real third-party MLX code, one core.

Prints files, bytes, how many files were parsed (whole or in part), findings per rule and the
time taken, best and median of `--repeat` runs in this one process (so on one core), with
the machine's load average. Targets: mlx-lm 0.32.2, mlx-lm-lora 5.10.2 and mlx-vlm 0.7.10
together (1,875 files, 14.6 MB) in < 3 s; for scale, a plain `ast.parse` of all of them is
timed too (~2.9 s on a quiet core).

    PYTHONPATH=. python benchmarks/bench_lint.py [--packages DIR] [--repeat 5]

The wheels are fetched once with `pip download --no-deps` into DIR (default: the same cache
folder the tests use, tests/.cache/lint-packages) and unpacked there.
Must not import: mlx (the lint does not need it).
"""

from __future__ import annotations

import argparse
import ast
import collections
import os
import sys
import time
from pathlib import Path

from mlxprobe.lint.engine import lint_source, many_files

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from lint_packages import PACKAGES, unpacked  # noqa: E402


def measure(texts: list[tuple[str, str]]) -> dict:
    """One pass as the CLI makes it, file by file."""
    started, cpu = time.perf_counter(), time.process_time()
    with many_files():
        found = [f for name, text in texts for f in lint_source(text, name)]
    return {"total_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
            "findings": found}


def parse_all(texts: list[tuple[str, str]]) -> tuple[float, float]:
    """(wall, CPU) seconds of a plain `ast.parse` of every file."""
    started, cpu = time.perf_counter(), time.process_time()
    for name, text in texts:
        ast.parse(text, name)
    return time.perf_counter() - started, time.process_time() - cpu


UNIT = """
def train_{i}(model, optimizer, data, params):
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    acc = None
    for epoch in range(10):
        for step, batch in enumerate(data):
            loss, grads = loss_and_grad(model, batch)
            acc = grads if acc is None else tree_map(mx.add, acc, grads)
            params = tree_map(lambda p, g: p - 0.1 * g, params, grads)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, params)
            print(loss.item())
"""
HEAD = "import mlx.core as mx\nimport mlx.nn as nn\nfrom mlx.utils import tree_map\n"


def scaling(repeat: int) -> None:
    """CPU time per byte of one file of k training functions, every rule applicable: flat
    per-byte cost as k grows is the O(size of the file) check."""
    for k in (50, 200, 800):
        text = HEAD + "".join(UNIT.format(i=i) for i in range(k))
        best = float("inf")
        for _ in range(repeat):
            started = time.process_time()
            lint_source(text, "scaling.py")
            best = min(best, time.process_time() - started)
        print(f"  one file of {k} training loops, {len(text) / 1e3:.0f} KB: {best:.3f} s CPU, "
              f"{best / len(text) * 1e6:.2f} us/byte")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=Path, help="where to fetch and unpack the wheels")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = unpacked(args.packages)
    files = sorted(folder.rglob("*.py"))
    texts = [(str(p), p.read_text(encoding="utf-8")) for p in files]
    size = sum(len(t.encode()) for _, t in texts)
    print(f"{' '.join(PACKAGES)}: {len(files)} files, {size / 1e6:.1f} MB, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    runs = [measure(texts) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: r["total_s"])
    per_rule = collections.Counter(f.rule for f in best["findings"])
    median = sorted(r["total_s"] for r in runs)[len(runs) // 2]
    cpu = min(r["cpu_s"] for r in runs)
    print(f"  lint: best of {args.repeat} {best['total_s']:.3f} s wall, median {median:.3f} s, "
          f"best CPU time {cpu:.3f} s (target < 3 s); {len(best['findings'])} findings "
          f"{dict(per_rule) or ''}")
    parse_s, parse_cpu = parse_all(texts)
    print(f"  plain ast.parse of every file, once: {parse_s:.3f} s wall, {parse_cpu:.3f} s CPU; "
          f"lint / parse CPU = {cpu / parse_cpu:.2f} (a ratio the machine's load mostly cancels)")
    for f in best["findings"]:
        print(f"  {f.path}:{f.line}:{f.col + 1}: {f.rule} {f.message}")
    scaling(min(args.repeat, 3))


if __name__ == "__main__":
    main()
