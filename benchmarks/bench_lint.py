"""Benchmark: `mlxprobe lint` over the whole of mlx-lm (and MLX's own nn/optimizers), one core.

Prints files, lines checked, findings per rule and the time taken (parse and rules, best of
`--repeat` runs in this one process, so on one core). Target: all of mlx-lm in < 2 s.

    PYTHONPATH=. python benchmarks/bench_lint.py [--mlx-lm DIR] [--repeat 5]

Without `--mlx-lm`, the installed package is used, else the wheel from `pip download`.
Must not import: mlx (the lint does not need it; its folder is found without importing it).
"""

from __future__ import annotations

import argparse
import ast
import collections
import importlib.util
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from mlxprobe.lint.engine import check
from mlxprobe.lint.source import index


def installed(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def downloaded_mlx_lm() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="bench_lint_"))
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                    str(folder), "mlx-lm"], check=True)
    wheel = next(folder.glob("mlx_lm-*.whl"))
    zipfile.ZipFile(wheel).extractall(folder / "src")
    return folder / "src" / "mlx_lm"


def measure(files: list[Path]) -> dict:
    """One pass as the CLI makes it, file by file: parse+index, then the rules."""
    texts = [(str(p), p.read_text()) for p in files]
    parse_s = rules_s = 0.0
    found = []
    for name, text in texts:
        started = time.perf_counter()
        source = index(name, text, ast.parse(text, name))
        middle = time.perf_counter()
        found += check(source)
        rules_s += time.perf_counter() - middle
        parse_s += middle - started
    return {"parse_s": parse_s, "rules_s": rules_s, "total_s": parse_s + rules_s,
            "lines": sum(t.count("\n") for _, t in texts), "findings": found}


def report(name: str, files: list[Path], repeat: int) -> None:
    runs = [measure(files) for _ in range(repeat)]
    best = min(runs, key=lambda r: r["total_s"])
    per_rule = collections.Counter(f.rule for f in best["findings"])
    print(f"{name}: {len(files)} files, {best['lines']} lines, "
          f"{len(best['findings'])} findings {dict(sorted(per_rule.items())) or ''}")
    print(f"  best of {repeat}: {best['total_s']:.3f} s (parse+index {best['parse_s']:.3f} s, "
          f"rules {best['rules_s']:.3f} s); median "
          f"{sorted(r['total_s'] for r in runs)[len(runs) // 2]:.3f} s")
    for f in best["findings"]:
        print(f"  {f.path}:{f.line}:{f.col + 1}: {f.rule} {f.message}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlx-lm", type=Path, help="an mlx_lm source folder")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    mlx_lm = args.mlx_lm or installed("mlx_lm") or downloaded_mlx_lm()
    report(f"mlx-lm ({mlx_lm})", sorted(mlx_lm.rglob("*.py")), args.repeat)
    mlx = installed("mlx")
    if mlx is not None:
        files = sorted([*(mlx / "nn").rglob("*.py"), *(mlx / "optimizers").rglob("*.py"),
                        mlx / "utils.py"])
        report(f"mlx nn+optimizers+utils ({mlx})", files, args.repeat)


if __name__ == "__main__":
    main()
