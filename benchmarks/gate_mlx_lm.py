"""`mlxprobe gate ... -- python -m mlx_lm lora ...`: mlx-lm's own trainer, unmodified, gated
between two mlx releases and between two identical sides (which must pass: no false alarm).

A benchmark, not a test: it builds two venvs from PyPI (mlx[cpu] 0.31.2 and 0.32.4, each with
mlx-lm 0.32.2: on Linux mlx-lm declares no mlx requirement, its `mlx>=0.32.2` is for macOS
only, and its trainer runs on 0.31.2; measured: about 2 minutes a venv with a warm pip
cache), then runs the trainer 12 times (40 iterations of LoRA on the tiny offline model of
tests/fixtures/tiny_mlx_lm.py, seed 0, a loss every 2 iterations). Too slow and too
network-bound for CI; the gate's code paths are tested with stand-in environments in
tests/test_gate_program.py.

Writes reports/gate-mlx-lm-0.31.2-to-0.32.4.md and reports/gate-mlx-lm-0.32.4-same.md (the
gate's summaries) and prints each gate's exit code and wall time.

    PYTHONPATH=. python benchmarks/gate_mlx_lm.py [--cache-dir DIR] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MLX_LM = "mlx-lm==0.32.2"
GATES = {  # name: (baseline, candidate)
    "0.31.2-to-0.32.4": ("mlx[cpu]==0.31.2", "mlx[cpu]==0.32.4"),
    "0.32.4-same": ("mlx[cpu]==0.32.4", "mlx[cpu]==0.32.4"),
}
TRAIN = ("--train", "--batch-size", "4", "--num-layers", "2", "--iters", "40",
         "--steps-per-report", "2", "--val-batches", "2", "--seed", "0")


def tiny_model(work: Path) -> tuple[Path, Path]:
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "fixtures" / "tiny_mlx_lm.py"),
                           str(work / "tiny")], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    model, data = done.stdout.split()
    return Path(model), Path(data)


def one_gate(name: str, work: Path, cache: Path | None, model: Path, data: Path) -> int:
    baseline, candidate = GATES[name]
    out = work / name
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "mlxprobe.cli", "gate", "--baseline", baseline,
               "--candidate", candidate, "--with", MLX_LM, "--repeat", "3", "--out", str(out),
               "--html", str(out / "gate.html"),
               *(["--cache-dir", str(cache)] if cache else []),
               "--", "python", "-m", "mlx_lm", "lora", "--model", str(model), "--data",
               str(data), "--adapter-path", str(out / "adapters"), *TRAIN]
    started = time.monotonic()
    done = subprocess.run(command, env={**os.environ, "HF_HUB_OFFLINE": "1",
                                        "PYTHONPATH": str(ROOT)}, cwd=work)
    wall = time.monotonic() - started
    target = ROOT / "reports" / f"gate-mlx-lm-{name}.md"
    summary = (out / "summary.md").read_text(encoding="utf-8")
    target.write_text(summary.replace(str(work), "$WORK"), encoding="utf-8")
    print(f"gate {name}: exit {done.returncode}, {wall:.0f} s; summary {target}", flush=True)
    return done.returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache-dir", type=Path, help="the gate's environment cache")
    parser.add_argument("--work", type=Path, help="where the gates' outputs go (kept)")
    parser.add_argument("--only", choices=list(GATES))
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="gate-mlx-lm-"))
    work.mkdir(parents=True, exist_ok=True)
    model, data = tiny_model(work)
    codes = {name: one_gate(name, work, args.cache_dir, model, data)
             for name in ([args.only] if args.only else GATES)}
    print(f"outputs in {work}")
    # the release gate may fail (that is its finding); the identical sides must pass
    return 1 if codes.get("0.32.4-same", 0) != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
