"""How small a learning-curve change `mlxprobe gate ... -- PROGRAM` sees with 3 runs a side.

The program is tests/programs/mlx_linear.py (SGD on linear regression, 60 steps, 64 random
rows a step, a loss printed every 10 steps). Its learning rate is scaled on the candidate
side only, through MLXPROBE_TEST_LR_SCALE, which only that test program reads: both sides
are stand-ins of this interpreter (tests/test_gate_program.py's `stand_in`), the candidate's
bin/python exporting the variable. Each gate is a real `mlxprobe gate --repeat 3 -- python
mlx_linear.py ...` (A B, B A, A B rounds under `watch`), judged by the default thresholds.

Two programs: `seeded` (the same rows every run: runs of one side are bit-identical, the
band is the 1% floor) and `unseeded` (`--unseeded`: rows drawn from the process id, runs
differ as with an unseeded data loader, the band is 3x their spread in log(loss)).
A scale of 1.0 is the false-alarm check. Prints a Markdown table; `--trials N` gates per
cell (default 3), `--scales`, `--modes` a part.

    PYTHONPATH=. python benchmarks/gate_curve_planted.py [--trials 3] [--scales 1 0.9]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from test_gate_program import stand_in  # noqa: E402

from mlxprobe import cli  # noqa: E402
from mlxprobe.commands import gate  # noqa: E402

PROGRAM = ROOT / "tests" / "programs" / "mlx_linear.py"
SCALES = (1.0, 0.99, 0.98, 0.95, 0.9, 0.8, 0.7, 0.5)
MODES = {"seeded": ["--batch", "64"], "unseeded": ["--batch", "64", "--unseeded"]}


def one_gate(folder: Path, scale: float, mode: str) -> tuple[int, str]:
    """(exit code, the curve's words) of one gate with the candidate's rate scaled."""
    envs = {"base": stand_in(folder, "a"),
            "head": stand_in(folder, "b", {"MLXPROBE_TEST_LR_SCALE": str(scale)})}
    gate._environments = lambda args: envs  # the stand-ins, no build
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["gate", "--baseline", "a", "--candidate", "b", "--out",
                         str(folder / "gate"), "--", "python", str(PROGRAM), "--steps", "60",
                         *MODES[mode]])
    words = next((ln.split("learning curve differs: ")[1] for ln in out.getvalue().splitlines()
                  if "learning curve differs" in ln and not ln.startswith("WORSE")), "")
    return code, words


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--scales", type=float, nargs="+", default=SCALES)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args()
    started = time.monotonic()
    print("| program | LR scale on the candidate | gates failed (exit 1) | example |")
    print("|---|---|---|---|")
    for mode in args.modes:
        for scale in args.scales:
            codes, example = [], ""
            for _ in range(args.trials):
                with tempfile.TemporaryDirectory(prefix="gate-planted-") as tmp:
                    code, words = one_gate(Path(tmp), scale, mode)
                codes.append(code)
                example = example or words
            failed = sum(1 for c in codes if c == 1)
            print(f"| {mode} | {scale:g} | {failed}/{len(codes)} | {example or '-'} |",
                  flush=True)
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
