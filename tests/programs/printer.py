"""A plain-Python training stand-in for `watch` tests: prints `step N loss X` lines.

Arguments (all optional): --steps N, --every S (seconds between steps), --stall-at K (sleep
forever after step K, printing nothing), --exit C (exit code at the end), --raise MSG (raise
ValueError at the end), --stderr (every 3rd line to stderr), --flat (the loss does not fall;
0.05% scatter, below a noisy level's), --busy-at K (after step K compute in Python forever,
printing nothing), --save-at K (after step K write a "checkpoint" in 1 MiB pieces for 5 s,
printing nothing), --probe (also call mlxprobe's probe: step with the loss, and a failing
check at the end).
No mlx: the harness's own tests need no MLX.
"""

import argparse
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=30)
parser.add_argument("--every", type=float, default=0.0)
parser.add_argument("--stall-at", type=int)
parser.add_argument("--busy-at", type=int)
parser.add_argument("--save-at", type=int)
parser.add_argument("--exit", type=int, default=0)
parser.add_argument("--raise", dest="error")
parser.add_argument("--stderr", action="store_true")
parser.add_argument("--flat", action="store_true")
parser.add_argument("--probe", action="store_true")
args = parser.parse_args()

if args.probe:
    from mlxprobe import probe

for step in range(1, args.steps + 1):
    loss = 2.0 + 0.001 * (step % 3) if args.flat else 5.0 / step
    stream = sys.stderr if args.stderr and step % 3 == 0 else sys.stdout
    print(f"step {step} loss {loss:.6f}", file=stream, flush=True)
    if args.probe:
        probe.step(loss=loss, grad_norm=1.0 / step)
    if step == args.stall_at:
        time.sleep(3600)
    if step == args.busy_at:
        total = 0
        while True:  # Python work on ever-changing lines: the stacks move
            for i in range(1000):
                total += i
            total %= 7
    if step == args.save_at:
        import tempfile

        with tempfile.TemporaryFile() as checkpoint:
            end = time.monotonic() + 5.0
            while time.monotonic() < end:
                checkpoint.write(b"\0" * (1 << 20))
                checkpoint.seek(0)
    time.sleep(args.every)

if args.probe:
    probe.check("final_accuracy", False, hint="train longer", accuracy=0.1)
if args.error:
    raise ValueError(args.error)
sys.exit(args.exit)
