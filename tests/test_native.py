"""Native (compiled) MLX programs: the interposer, native stacks from a debugger, the native
scenario mechanism and its build cache.

Cost: the native_step2 program and the interposer are built once per source and mlx version
(~25 s cold on a loaded 2-core machine, 0.6 s cached); then ~40 s of runs in all (the
broken watch run stops ~6 s after its last heartbeat).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from watching import watch

from mlxprobe.errors import UsageError
from mlxprobe.launching import catalog
from mlxprobe.native import build, program
from mlxprobe.packing import unpack
from mlxprobe.watching import confirm, debugger

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
TOOLCHAIN = build.toolchain_problem()
needs_toolchain = pytest.mark.skipif(TOOLCHAIN is not None, reason=f"{TOOLCHAIN}")


@pytest.fixture(scope="module")
def native_step2() -> Path:
    return build.program(SCENARIOS / "native", "native_step2")


def _run(exe: Path, args: list[str], env: dict | None = None, pass_fds=()) -> str:  # noqa: ANN001
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, pass_fds=pass_fds)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _records(path: Path) -> list[dict]:
    out: list[dict] = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "beats":
            block = unpack(record)
            assert block is not None, line
            block.t = [0.0] * block.n
            out.extend(block.records())
        else:
            out.append(record)
    return out


@needs_toolchain
def test_the_interposer_changes_nothing_and_records_every_eval(native_step2, tmp_path):
    plain = _run(native_step2, ["fixed", "40"])
    sink = tmp_path / "records.jsonl"
    with open(sink, "w") as stream:
        env = {"LD_PRELOAD": str(build.interposer()), "MLXPROBE_RECORD_FD": str(stream.fileno())}
        watched = _run(native_step2, ["fixed", "40"], env, pass_fds=(stream.fileno(),))
    assert watched == plain  # every loss line and the parameter checksum, to the last digit
    assert "params checksum" in plain
    records = _records(sink)
    assert [r["kind"] for r in records[:2]] == ["start", "mlx"]
    assert records[0]["source"] == "interposer" and records[0]["stacks"] is False
    steps = [r for r in records if r["kind"] == "step"]
    # 1 eval of the initial parameters, 1 a step, 1 of the final parameters, 5 checksum items
    assert [s["step"] for s in steps] == list(range(1, 48))
    assert all(s["source"] == "eval" and s["memory"]["mx_active"] > 0 for s in steps)


@needs_toolchain
def test_the_interposer_is_inert_without_a_harness(native_step2):
    env = {"LD_PRELOAD": str(build.interposer())}
    assert _run(native_step2, ["fixed", "20"], env) == _run(native_step2, ["fixed", "20"])


@needs_toolchain
def test_watch_broken_is_a_busy_hang_in_eval_with_native_stacks(native_step2, tmp_path):
    if not (shutil.which("eu-stack") or shutil.which("gdb")):
        pytest.skip("no debugger for native stacks: apt-get install gdb (or elfutils)")
    # the backlog of 2,000 lazy steps costs ~5.2 s of CPU (measured: 7.3 s at 0.71 cores,
    # load 5): 4% past watch's 5 s floor, so the soak (2 hogs) once saw it finish in time and
    # pass; at the catalogue's 1.5 s floor it is 3.5x the deadline
    done, entry = watch(tmp_path, str(native_step2), "broken", options=("--step-floor", "1.5"))
    assert (done.returncode, entry["verdict"], entry["detail"]) == (1, "hang", "cpu_busy")
    assert entry["interposer"] == "loaded" and entry["sources"] == ["eval"]
    native = entry["stacks"]["native"]
    assert "mlx::core::eval" in native and "train_lazy" in native
    assert "python" not in entry["stacks"]


@needs_toolchain
def test_watch_fixed_passes_with_heartbeats_then_from_output_alone(native_step2, tmp_path):
    done, entry = watch(tmp_path, str(native_step2), "fixed", "120")
    assert (done.returncode, entry["verdict"]) == (0, "pass")
    assert entry["interposer"] == "loaded" and entry["sources"] == ["eval", "output"]
    assert entry["metrics"]["peak_mx_active_mb"] > 0
    done, entry = watch(tmp_path, str(native_step2), "fixed", "120",
                        options=("--no-interposer",))
    assert (done.returncode, entry["verdict"]) == (0, "pass")
    assert entry["sources"] == ["output"] and entry["interposer"].startswith("switched off")


def test_a_native_program_without_libmlx_falls_back_to_output(tmp_path):
    """A binary with no dynamic libmlx (a statically linked mlx-rs program) loads the
    interposer, which finds no MLX to wrap: progress from output, and the report says so."""
    if build.toolchain_problem() is not None:
        pytest.skip(TOOLCHAIN)
    shell = tmp_path / "train.sh"
    shell.write_text("for i in 1 2 3 4 5; do echo \"step $i loss 0.$((9 - i))\"; done\n")
    done, entry = watch(tmp_path, "/bin/sh", str(shell))
    assert entry["verdict"] == "pass" and entry["sources"] == ["output"]
    assert entry["interposer"].startswith("not active: the program has no dynamic libmlx")


@needs_toolchain
def test_a_python_program_under_a_native_launcher_runs_as_without_it(tmp_path):
    """`watch -- bash -c "python train.py"`: bash gets the interposer, and so does the Python it
    starts (LD_PRELOAD is inherited), where libmlx is loaded later, with RTLD_LOCAL: the
    wrappers stay inert and forward to it; the bootstrap watches the program."""
    script = tmp_path / "train.py"
    script.write_text("import mlx.core as mx\nx = mx.ones((4,))\nfor i in range(20):\n"
                      "    x = x * 0.9\n    mx.eval(x)\n"
                      "    print(f'step {i + 1} loss {x.sum().item():.4f}', flush=True)\n")
    done, entry = watch(tmp_path, "/bin/sh", "-c", f"{sys.executable} {script}")
    assert (done.returncode, entry["verdict"]) == (0, "pass"), done.stderr[-2000:]
    assert "eval" in entry["sources"] and entry.get("interposer") is None
    assert "step 20 loss 0.4863" in done.stdout.decode()


def test_python_and_scripts_are_not_native(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    assert not program.is_native(["python3", "x.py"])
    assert not program.is_native([str(script)])
    assert program.is_native(["/bin/sh"])
    assert program.interposer_for([str(script)], off=False) == (None, "")
    assert program.interposer_for(["/bin/sh"], off=True)[1].startswith("switched off")


GDB = """\
Thread 2 (Thread 0x7f00687ff6c0 (LWP 6962) "native_step2"):
#0  futex_wake (private=<optimized out>) at ../sysdeps/nptl/futex-internal.h:209
#3  0x00007f0069a398cb in mlx::core::scheduler::StreamThread::thread_fn() () from /x/libmlx.so
Thread 1 (Thread 0x7f006a96c880 (LWP 6960) "native_step2"):
#5  0x00007f0069a4431b in mlx::core::eval_impl(std::vector<array>, bool) () from /x/libmlx.so
#6  0x00007f0069a4522b in mlx::core::eval(std::vector<mlx::core::array> >) () from /x/libmlx.so
#7  0x0000557f8e924eb0 in (anonymous namespace)::train_lazy(Model&, int) ()
#8  0x0000557f8e924eb0 in main ()
"""


def test_gdb_stacks_read_like_py_spy():
    text = debugger.condense_gdb(GDB)
    assert text.splitlines() == [
        'Thread 6962: "native_step2"',
        "    futex_wake (../sysdeps/nptl/futex-internal.h:209)",
        "    mlx::core::scheduler::StreamThread::thread_fn (libmlx.so)",
        'Thread 6960: "native_step2"',
        "    mlx::core::eval_impl (libmlx.so)",
        "    mlx::core::eval (libmlx.so)",
        "    (anonymous namespace)::train_lazy",
        "    main"]


def test_a_native_stall_holds_only_while_the_main_thread_stands_still():
    first = debugger.condense_gdb(GDB)
    assert confirm.thread_stack(first, 6960).splitlines()[0] == "mlx::core::eval_impl (libmlx.so)"
    assert confirm.native_stuck(first, lambda: first, 6960, [], gap_s=0.0)
    moved = first.replace("(anonymous namespace)::train_lazy", "save_checkpoint")
    assert not confirm.native_stuck(first, lambda: moved, 6960, [], gap_s=0.0)
    other = first.replace("thread_fn", "other_fn")  # another thread moving: still stuck
    assert confirm.native_stuck(first, lambda: other, 6960, [], gap_s=0.0)
    # no stack to compare (no debugger): the missed deadline stands, as for any non-Python
    assert confirm.native_stuck("(no native stacks: install gdb)", lambda: "", 6960, [], 0.0)


def test_the_catalogue_checks_a_native_scenario(tmp_path):
    (tmp_path / "prog").mkdir()
    (tmp_path / "prog" / "CMakeLists.txt").write_text("project(x)\n")
    good = tmp_path / "good.py"
    good.write_text('SCENARIO = {"id": "n", "title": "t", "variants": {"a-b": "pass"}, '
                    '"native": {"project": "prog", "program": "p"}}\n')
    assert catalog.load_file(good).native == {"project": "prog", "program": "p"}
    bad = tmp_path / "bad.py"
    bad.write_text('SCENARIO = {"id": "n", "title": "t", "variants": {"a": "pass"}, '
                   '"native": {"project": "nowhere", "program": "p"}}\n')
    with pytest.raises(UsageError, match="no CMakeLists.txt"):
        catalog.load_file(bad)


def test_no_toolchain_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("MLXPROBE_CACHE", str(tmp_path))  # nothing built yet
    monkeypatch.delenv("CXX", raising=False)
    assert "apt-get install g++ cmake" in build.toolchain_problem()
    from mlxprobe.commands import running

    native = catalog.load_file(SCENARIOS / "native_step2_hang.py")
    plain = catalog.load_file(SCENARIOS / "step2_hang.py")
    with pytest.raises(build.NativeUnavailable, match="apt-get install g"):
        running.buildable([native], explicit=True)
    assert running.buildable([native, plain], explicit=False) == [plain]


def test_pytest_skips_a_native_scenario_naming_what_to_install(tmp_path):
    folder = tmp_path / "cases"
    (folder / "native").mkdir(parents=True)
    (folder / "native_step2_hang.py").write_text((SCENARIOS / "native_step2_hang.py").read_text())
    for path in (SCENARIOS / "native").iterdir():
        (folder / "native" / path.name).write_bytes(path.read_bytes())
    env = {**os.environ, "PATH": str(tmp_path), "MLXPROBE_CACHE": str(tmp_path / "cache")}
    env.pop("CXX", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           str(folder)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert "5 skipped" in done.stdout, done.stdout[-2000:]
    assert "native scenario not built" in done.stdout
    assert "apt-get install g++ cmake" in done.stdout


def test_a_warm_up_stall_with_no_debugger_counts_as_maybe_compiling():
    """On a GPU machine with neither gdb nor eu-stack, a native program's first steps (CUDA
    compiles its kernels in the process) cannot be told from a hang: credited as compiling
    (bounded by the compile cap), never after warm-up, never for a Python program."""
    from types import SimpleNamespace

    from mlxprobe.watching.runner import WatchedProcess as Runner

    none = "(no native stacks: install elfutils (eu-stack) or gdb, e.g. apt-get install elfutils)"
    native = SimpleNamespace(launch=SimpleNamespace(preload="/x/libinterposer.so", interposer=""))
    python = SimpleNamespace(launch=SimpleNamespace(preload=None, interposer=""))
    assert "may be compiling" in Runner._unseen(native, none, "warmup")
    assert Runner._unseen(native, none, "step") is None
    assert Runner._unseen(python, none, "warmup") is None
    assert Runner._unseen(native, "Thread 1: main\n  mlx::core::eval", "warmup") is None
