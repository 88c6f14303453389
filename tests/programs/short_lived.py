"""A program that ends soon after it starts, in one of the ways a real one ends, for the
stress test of "the observer never harms the observed" (tests/test_observer.py).

`short_lived.py MODE`: prints a few `step N loss X` lines, then per MODE:
  plain        returns (interpreter shutdown, atexit, module teardown)
  os_exit      os._exit(0) (no shutdown at all)
  exec         execs /bin/sh, a program that is not Python, which exits 0
  spawn        runs `sleep` (not Python) and a fork()ed multiprocessing worker, then returns
  own_handler  installs its own SIGUSR1 handler first; exits 3 if it ever ran or was replaced
  mlx          a few real MLX evaluations, then returns
Exit 0 whenever nothing from outside changed it. Under mlxprobe it first waits (at most
ASKED_WITHIN_S) until its stacks were asked for and answered once, so that every run is
asked before and while it ends, however loaded the machine; exit 4 if they never were.
"""

import os
import signal
import sys
import time

ASKED_WITHIN_S = 30.0

MODE = sys.argv[1]
ran: list[int] = []

if MODE == "own_handler":
    def handler(signum, frame):  # noqa: ANN001, ARG001
        ran.append(signum)

    signal.signal(signal.SIGUSR1, handler)

for step in range(1, 4):
    print(f"step {step} loss {1.0 / step:.4f}", flush=True)

if os.environ.get("MLXPROBE_STACKS_DIR"):
    answers = os.path.join(os.environ["MLXPROBE_STACKS_DIR"], f"{os.getpid()}.txt")
    end = time.monotonic() + ASKED_WITHIN_S
    while not (os.path.exists(answers) and os.path.getsize(answers)):
        if time.monotonic() > end:
            sys.exit(4)
        time.sleep(0.005)

if MODE == "mlx":
    import mlx.core as mx

    w = mx.zeros((8, 8))
    for _ in range(3):
        w = w + mx.ones((8, 8)) @ w + 1
        mx.eval(w)
elif MODE == "os_exit":
    os._exit(0)
elif MODE == "exec":
    os.execv("/bin/sh", ["/bin/sh", "-c", "i=0; while [ $i -lt 50 ]; do i=$((i+1)); done"])
elif MODE == "spawn":
    import multiprocessing
    import subprocess

    subprocess.run(["sleep", "0.02"], check=True)
    worker = multiprocessing.get_context("fork").Process(target=sum, args=([1, 2],))
    worker.start()
    worker.join()
    sys.exit(worker.exitcode)
elif MODE == "own_handler":
    sys.exit(3 if ran or signal.getsignal(signal.SIGUSR1) is not handler else 0)
