"""Real start-ups under `mlxprobe watch`: how long does the whole tree sleep before step one?

    python benchmarks/startup_idle.py              # the work phases last 60 s each
    python benchmarks/startup_idle.py --seconds 20 --only pool,read

Each start-up runs under `mlxprobe watch --json` with the default deadlines (idle deadline
`watchdog.IDLE_S`), one after the other; printed: its verdict (every one but `blocked` must
pass: zero false hangs), the wall time, and `startup_idle_max_s`, the longest stretch
before the first step in which every thread of every process of the tree slept (no CPU,
none running, no compiler, no I/O, RSS still, no output). That longest sleep is what the
idle deadline must stay far above. The `blocked` start-up (main waits on a Queue its
workers never fill) must be `hang:cpu_idle` after about the idle deadline.

Start-ups: import mlx and a tiny loop; an mx.compile'd step with a cold JIT cache (TMPDIR
fresh: MLX's CPU backend runs g++ on the first step); mlx-lm LoRA on the tiny local fixture
(tests/fixtures/tiny_mlx_lm.py: model load, dataset read, first compiled step); a worker
pool preparing data (fork and spawn); a compiler child running; a local file read over and
over; every fixed variant of examples/plain. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "tests" / "programs"
PY = sys.executable


def startups(seconds: float, folder: Path) -> dict[str, tuple[list[str], dict]]:
    """name -> (argv, extra environment)."""
    s = str(seconds)
    cold = {"TMPDIR": str(folder / "cold-jit")}
    (folder / "cold-jit").mkdir(exist_ok=True)
    found = {
        "blocked": ([PY, str(PROGRAMS / "startup.py"), "--mode", "blocked"], {}),
        "import_mlx": ([PY, str(PROGRAMS / "mlx_linear.py"), "--steps", "20"], {}),
        "jit_cold": ([PY, str(PROGRAMS / "mlx_linear.py"), "--steps", "20", "--compiled"],
                     cold),
        "pool_fork": ([PY, str(PROGRAMS / "startup.py"), "--mode", "pool", "--seconds", s],
                      {}),
        "pool_spawn": ([PY, str(PROGRAMS / "startup.py"), "--mode", "pool", "--start",
                        "spawn", "--seconds", s], {}),
        "compiler": ([PY, str(PROGRAMS / "startup.py"), "--mode", "compile", "--seconds", s],
                     {}),
        "read_file": ([PY, str(PROGRAMS / "startup.py"), "--mode", "read", "--seconds", s],
                      {}),
    }
    sys.path.insert(0, str(ROOT / "tests"))
    from fixtures.tiny_mlx_lm import build

    model, data = build(folder / "tiny")
    found["mlx_lm_lora"] = ([PY, "-m", "mlx_lm", "lora", "--model", str(model), "--train",
                             "--data", str(data), "--batch-size", "4", "--num-layers", "2",
                             "--iters", "10", "--adapter-path", str(folder / "adapters")],
                            cold)
    for script in sorted((ROOT / "examples" / "plain").glob("[a-z]*.py")):
        found[f"plain/{script.stem}"] = ([PY, str(script), "fixed"], {})
    return found


def watched(argv: list[str], env: dict, out: Path) -> dict:
    command = [PY, "-m", "mlxprobe.cli", "watch", "--no-status", "--json", str(out), "--",
               *argv]
    begun = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=1200)
    wall = time.monotonic() - begun
    if not out.exists():
        return {"verdict": f"no report (exit {done.returncode})", "wall_s": wall}
    entry = json.loads(out.read_text())["runs"][0]
    label = entry["verdict"] + (f":{entry['detail']}" if entry["detail"] else "")
    return {"verdict": label, "wall_s": wall, "steps": entry["metrics"]["steps"],
            "idle_max_s": entry["metrics"].get("startup_idle_max_s"),
            "extensions": entry.get("extensions"), "first_step_s": _first_step_s(entry)}


def _first_step_s(entry: dict) -> float | None:
    """Seconds from start to the end of the first step (None without steps)."""
    metrics = entry["metrics"]
    if not metrics["steps"] or metrics.get("first_step_ms") is None:
        return None
    parts = (metrics.get("startup_s"), metrics.get("setup_s"))
    return round(sum(p for p in parts if p) + metrics["first_step_ms"] / 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="how long each plain-Python work phase lasts")
    parser.add_argument("--only", default="", help="comma-separated names (prefixes)")
    args = parser.parse_args()
    wanted = [w for w in args.only.split(",") if w]
    with tempfile.TemporaryDirectory(prefix="mlxprobe-startup-") as tmp:
        folder = Path(tmp)
        print(f"{'start-up':36s} {'verdict':16s} {'steps':>5s} {'wall s':>7s} "
              f"{'step 1 at s':>11s} {'longest sleep s':>15s} {'ext':>3s}")
        for name, (argv, env) in startups(args.seconds, folder).items():
            if wanted and not any(name.startswith(w) for w in wanted):
                continue
            got = watched(argv, env, folder / f"{name.replace('/', '_')}.json")
            print(f"{name:36s} {got['verdict']:16s} {got.get('steps', '-')!s:>5s} "
                  f"{got['wall_s']:7.1f} {got.get('first_step_s')!s:>11s} "
                  f"{got.get('idle_max_s')!s:>15s} {got.get('extensions')!s:>3s}", flush=True)
        print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
