"""A program's start-up, before its first step: blocked, or working for a while (`--mode`).

    python startup.py --mode blocked        # main waits on a Queue its workers never fill
    python startup.py --mode pool --seconds S   # S s of data preparation in a worker pool
    python startup.py --mode read --seconds S   # S s of reading a local file over and over
    python startup.py --mode compile --seconds S  # S s of a compiler child (g++ -O2 ...)
    python startup.py --mode sleep          # one process, asleep (time.sleep)
    python startup.py --mode socket --port P  # waits for a reply from a server on port P

Then (unless blocked) STEPS steps printed as `step N loss X`. `--start fork|spawn` picks how
the workers start. Plain Python: the harness tests' stand-in for a training script's start.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time


def wait_forever(tasks) -> None:  # noqa: ANN001
    tasks.get()  # never filled: asleep in a pipe read


def blocked(start: str) -> None:
    ctx = mp.get_context(start)
    tasks, results = ctx.Queue(), ctx.Queue()
    workers = [ctx.Process(target=wait_forever, args=(tasks,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    print("loading data with 2 workers", flush=True)
    results.get()  # the workers never answer


def prepare(seconds: float) -> int:
    end, count = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        count += sum(i * i for i in range(1000))
    return count


def pool(start: str, seconds: float) -> None:
    with mp.get_context(start).Pool(2) as workers:
        workers.map(prepare, [seconds / 2] * 4)


def read(seconds: float) -> None:
    with tempfile.NamedTemporaryFile() as data:
        data.write(os.urandom(8 << 20))
        data.flush()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with open(data.name, "rb") as stream:
                while stream.read(1 << 20):
                    pass


def compile_for(seconds: float) -> None:
    source = ("template<int N> struct F { enum { v = F<N-1>::v + F<N-2>::v }; };\n"
              "template<> struct F<0> { enum { v = 0 }; };\n"
              "template<> struct F<1> { enum { v = 1 }; };\n"
              "int main() { return F<30>::v & 1; }\n")
    end = time.monotonic() + seconds
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "k.cpp")
        with open(path, "w") as stream:
            stream.write(source)
        while time.monotonic() < end:
            subprocess.run(["g++", "-O2", "-c", path, "-o", path + ".o"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="blocked",
                        choices=("blocked", "pool", "read", "compile", "sleep", "socket"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--start", default="fork", choices=("fork", "spawn", "forkserver"))
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(f"starting ({args.mode})", flush=True)
    if args.mode == "blocked":
        blocked(args.start)
    elif args.mode == "pool":
        pool(args.start, args.seconds)
    elif args.mode == "read":
        read(args.seconds)
    elif args.mode == "compile":
        compile_for(args.seconds)
    elif args.mode == "socket":
        with socket.create_connection(("127.0.0.1", args.port)) as peer:
            peer.recv(1)  # the server (outside the tree) never answers
    else:
        time.sleep(3600)
    for step in range(1, args.steps + 1):
        print(f"step {step} loss {1.0 / step:.4f}", flush=True)
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
