"""Backends other than Linux's CPU, tested on recorded text (issue 13): kernel compilation in
native stacks is never a hang, Metal's failure texts become crash details with a fix, and
warm-up keeps compile-slow first steps from setting the pace."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import child_spec

from mlxprobe.judging import hints
from mlxprobe.judging.verdict import classify
from mlxprobe.pipeline.outcome import execute
from mlxprobe.watching import devices, stacks
from mlxprobe.watching.compiling import compiler_frame
from mlxprobe.watching.facts import RawResult, Sample
from mlxprobe.watching.watchdog import (
    WARMUP_CAP,
    Deadlines,
    current_deadline,
    overdue,
    steady,
    warmup_steps,
)

MB = 1 << 20
# py-spy dump --native of qlora-notebook fixed on an H100 (issue 13: the chain quoted there,
# in py-spy's format; addresses and argument lists shortened)
NVRTC_PYSPY = """\
Process 51234: python -m mlxprobe.inside.child --root scenarios --module qlora_notebook
Python v3.12.3 (/usr/bin/python3.12)

Thread 51234 (active): "MainThread"
    nvrtcCompileProgram (libnvrtc.so.13)
    mlx::core::cu::JitModule::JitModule (libmlx.so)
    mlx::core::cu::get_jit_module (libmlx.so)
    mlx::core::qmm_naive (libmlx.so)
    mlx::core::QuantizedMatmul::eval_gpu (libmlx.so)
    mlx::core::gpu::eval (libmlx.so)
    mlx::core::eval_impl (libmlx.so)
    mlx::core::eval (libmlx.so)
    step (qlora_notebook.py:88)
    fixed (qlora_notebook.py:120)
"""
# README: step2-hang broken, a backlog inside one eval (a real hang)
BACKLOG_PYSPY = """\
Thread 22664 (idle): "MainThread"
    pthread_cond_wait (libc.so.6)
    mlx::core::eval_impl (libmlx.so)
    mlx::core::eval (libmlx.so)
    mlx::core::array::eval (libmlx.so)
    <module> (step2_hang.py:27)
"""
# macOS `sample PID 1` call graph, in the format of sample(1) (not recorded on a Mac: no
# recorded Metal compile was found; frames are Metal's public API names)
METAL_SAMPLE = """\
Call graph:
    812 Thread_4412078   DispatchQueue_1: com.apple.main-thread  (serial)
    + 812 start  (in dyld) + 2840  [0x18f2b6b4c]
    +   812 mlx::core::eval(std::vector<mlx::core::array>)  (in libmlx.dylib) + 80
    +     812 mlx::core::metal::Device::get_library(std::string const&)  (in libmlx.dylib)
    +       812 -[_MTLDevice newLibraryWithSource:options:error:]  (in Metal) + 132
    +         812 MTLCompilerConnection::compileRequest  (in MTLCompiler) + 240
"""


@pytest.mark.parametrize("text, frame", [
    (NVRTC_PYSPY, "nvrtcCompileProgram"),
    ("    ptxas (libnvidia-ptxjitcompiler.so.1)\n", "ptxas"),
    ("    cuModuleLoadDataEx (libcuda.so.1)\n", "cuModuleLoad"),
    ("    mlx::core::cu::JitModule::JitModule (libmlx.so)\n", "cu::JitModule"),
    (METAL_SAMPLE, "newLibraryWithSource"),
    ("    waitpid (libc.so.6)\n    mlx::core::JitCompiler::exec (libmlx.so)\n", "JitCompiler"),
    ("Process 7: cc1plus -quiet -O3\n", "cc1plus"),
    # recorded on an H100 (cold cache): mx.compile simplifying a graph between NVRTC looks
    ("    malloc (libc.so.6)\n    mlx::core::array::array (libmlx.so)\n"
     "    mlx::core::detail::compile_replace (libmlx.so)\n", "mx.compile"),
])
def test_compiler_frames_are_recognised(text: str, frame: str) -> None:
    assert compiler_frame(text) == frame


@pytest.mark.parametrize("text", [
    BACKLOG_PYSPY, "(py-spy not installed: pip install py-spy for native stacks)",
    "(py-spy failed: Permission denied (os error 13))", "",
    "Thread 1 (idle): \"MainThread\"\n    sem_wait (libc.so.6)\n    all_sum (dist.py:3)\n",
])
def test_a_real_hang_is_not_compilation(text: str) -> None:
    assert compiler_frame(text) is None


D = Deadlines(startup_s=100.0, step_floor_s=1.5, step_factor=10.0, window=5, budget_s=60.0)


def test_warmup_ends_once_steps_are_stable() -> None:
    # issue 13: step 1 46 ms (after process start), step 2 30.6 s of NVRTC, then 1.6-4.2 ms
    times = [3.0, 0.046, 30.6, 0.0042, 0.0016, 0.003, 0.0021, 0.0038, 0.002]
    assert warmup_steps(times[:5]) is None
    assert warmup_steps(times) == 3  # steps 4..8 within 3x of their median
    assert steady(times, 3, D.window) == times[-5:]
    assert current_deadline(D, 9, steady(times, 3, D.window)) == ("step", 1.5)


def test_warmup_has_a_cap() -> None:
    noisy = [0.01, 1.0] * WARMUP_CAP
    assert warmup_steps(noisy) == WARMUP_CAP
    assert warmup_steps(noisy[:10]) is None


def test_while_warming_the_slowest_step_after_the_first_sets_the_pace() -> None:
    assert current_deadline(D, 3, [30.0, 2.0, 0.01], warming=True) == ("warmup", 20.0)
    # a deadlock at step 2 after quick steps is still called at the floor
    assert current_deadline(D, 2, [0.3, 0.001], warming=True) == ("warmup", 1.5)


def test_compile_time_does_not_count_against_the_budget() -> None:
    assert overdue(D, 61.0, 0.0, 60.5, 3, [0.01] * 3, 0.0) == ("budget", 60.0)
    assert overdue(D, 61.0, 0.0, 60.5, 3, [0.01] * 3, 0.0, compile_total_s=30.0) is None


def _crashed(**fields: object) -> RawResult:
    return RawResult(**{"records": [{"kind": "start", "t": 0.0}], **fields})


# Recorded stderr (each quoted in a public issue): the uncaught C++ exception aborts
METAL_STDERR = {
    # github.com/lyogavin/airllm/issues/367
    "metal_gpu_timeout": "libc++abi: terminating due to uncaught exception of type "
    "std::runtime_error: [METAL] Command buffer execution failed: Caused GPU Timeout Error "
    "(00000002:kIOGPUCommandBufferCallbackErrorTimeout)\nzsh: abort      python3 ./test.py\n",
    # github.com/ml-explore/mlx/pull/479
    "metal_out_of_memory": "libc++abi: terminating due to uncaught exception of type "
    "std::runtime_error: [METAL] Command buffer execution failed: Insufficient Memory "
    "(00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)\n",
    # github.com/Acelogic/LTX-2-MLX/issues/5
    "metal_command_buffer": "libc++abi: terminating due to uncaught exception of type "
    "std::runtime_error: [METAL] Command buffer execution failed: Impacting Interactivity "
    "(0000000e:kIOGPUCommandBufferCallbackErrorImpactingInteractivity)\n",
}
# Python-side errors (RuntimeError records): github.com/ml-explore/mlx-lm/issues/1644,
# lmstudio-ai/lmstudio-bug-tracker/issues/2240; the wired-limit text is MLX's
# `set_wired_limit` check (not found quoted in an issue)
METAL_MESSAGES = {
    "metal_resource_limit": "[metal::malloc] Resource limit (499000) exceeded.",
    "metal_buffer_too_large": "[metal::malloc] Attempting to allocate 48736917632 bytes which "
    "is greater than the maximum allowed buffer size of 30150672384 bytes.",
    "metal_wired_limit": "[metal::set_wired_limit] Setting a wired limit larger than the "
    "maximum working set size is not allowed.",
}


@pytest.mark.parametrize("detail, stderr", list(METAL_STDERR.items()))
def test_metal_aborts_become_crash_details(detail: str, stderr: str) -> None:
    verdict = classify(_crashed(signal=6, stderr_tail="step 3 loss 2.1\n" + stderr))
    assert verdict.label == f"crash:{detail}"
    assert verdict.evidence["crash_was"] == "crash:SIGABRT"
    assert "Command buffer execution failed" in verdict.evidence["metal_error"]
    assert verdict.hint == dict((d, h) for d, _, h in hints.METAL_FAILURES)[detail]


@pytest.mark.parametrize("detail, message", list(METAL_MESSAGES.items()))
def test_metal_errors_become_crash_details(detail: str, message: str) -> None:
    error = {"kind": "error", "t": 1.0, "type": "RuntimeError", "message": message}
    verdict = classify(_crashed(records=[{"kind": "start", "t": 0.0}, error], exit_code=1))
    assert verdict.label == f"crash:{detail}" and verdict.evidence["metal_error"] == message


def test_other_crashes_keep_their_names() -> None:
    assert classify(_crashed(signal=6, stderr_tail="Fatal Python error")).label == \
        "crash:SIGABRT"


def test_compilation_seen_in_stacks_is_in_the_evidence() -> None:
    raw = RawResult(records=[{"kind": "start", "t": 0.0}, {"kind": "end", "t": 9.0}],
                    exit_code=0, compiling=[{"at_s": 3.1, "frame": "nvrtcCompileProgram",
                                             "credited_s": 1.6, "last_step": 1}])
    verdict = classify(raw)
    assert verdict.evidence["kernel_compile_s"] == 1.6
    assert "nvrtcCompileProgram" in verdict.reason


def _memory_run(active_mb, rss_mb=lambda i: 904.0, device_mb=None, n: int = 200,
                device_status: str = "") -> RawResult:
    """A 200-step run whose loss falls, with each memory view given per step."""
    records = [{"kind": "start", "t": 0.0}]
    records += [{"kind": "step", "step": i + 1, "t": 1.0 + i * 0.01, "step_s": 0.01,
                 "loss": 5.0 - 0.01 * i, "memory": {"mx_active": int(active_mb(i) * MB)}}
                for i in range(n)]
    samples = [Sample(1.0 + i * 0.01, int(rss_mb(i) * MB), 0.01 * i, 1, False, 0,
                      None if device_mb is None else int(device_mb(i) * MB)) for i in range(n)]
    return RawResult(records=records + [{"kind": "end", "t": 9.0}], exit_code=0,
                     samples=samples, device_status=device_status)


def test_a_leak_invisible_in_rss_is_seen_in_mlx_memory() -> None:
    """issue 13, lazy-metrics broken on CUDA: RSS 904 -> 910 MB (the CUDA context swamps
    it), MLX active memory 0.64 -> 2.83 MB over 200 steps (~11 KB/step)."""
    broken = classify(_memory_run(lambda i: 0.64 + 0.011 * i, lambda i: 904.0 + 0.03 * i))
    assert broken.label == "leak:mx_active", broken
    assert broken.evidence["grew_in"] == ["mx_active"]
    assert not broken.evidence["views"]["rss"]["grew"]
    assert "MLX active memory grew 11.3 KB/step" in broken.reason


def test_the_fixed_variant_wandering_in_its_band_is_no_leak() -> None:
    wander = [0.4, 0.55, 0.7, 0.5, 0.45, 0.65]
    fixed = classify(_memory_run(lambda i: wander[i % len(wander)] + (0.0 if i < 100 else 0.05)))
    assert fixed.kind == "pass", fixed
    assert not fixed.evidence["memory_views"]["mx_active"]["grew"]


def test_the_cpu_leak_is_still_called_on_rss_first() -> None:
    """CPU lazy-metrics: each kept loss pins its logits, 264 KB a step in both views."""
    cpu = classify(_memory_run(lambda i: 0.66 + 0.25 * i, lambda i: 120.0 + 0.26 * i))
    assert cpu.label == "leak:rss" and cpu.evidence["grew_in"] == ["rss", "mx_active"]
    assert cpu.evidence["rss_mb_per_step"] > 0.2  # the historical keys stay


def test_gpu_memory_is_a_view_of_its_own() -> None:
    run = _memory_run(lambda i: 0.5, device_mb=lambda i: 600.0 + 0.5 * i,
                      device_status="sampled through NVML")
    verdict = classify(run)
    assert verdict.label == "leak:device" and verdict.evidence["views"]["device"]["grew"]
    assert verdict.evidence["device_memory"] == "sampled through NVML"
    absent = classify(_memory_run(lambda i: 0.5, device_status=devices.NOT_INSTALLED))
    assert absent.kind == "pass" and absent.evidence["device_memory"] == devices.NOT_INSTALLED


class _FakeNvml:
    """pynvml's calls that DeviceMemory makes, on one GPU with two processes."""

    class Proc:
        def __init__(self, pid: int, used: int | None) -> None:
            self.pid, self.usedGpuMemory = pid, used

    def __init__(self) -> None:
        self.used = {100: 700 * MB, 999: 5000 * MB}

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        return f"gpu{index}"

    def nvmlDeviceGetComputeRunningProcesses(self, handle: str) -> list:
        return [self.Proc(pid, used) for pid, used in self.used.items()]


def test_device_memory_counts_only_the_tree() -> None:
    nvml, now = _FakeNvml(), [0.0]
    memory = devices.DeviceMemory(loader=lambda: (nvml, ""), clock=lambda: now[0])
    assert memory.used([100, 101]) == 700 * MB  # pid 999 is another user's
    nvml.used[100] = 900 * MB
    assert memory.used([100]) == 700 * MB  # read at most every READ_EVERY_S
    now[0] = 1.0
    assert memory.used([100]) == 900 * MB and memory.status == "sampled through NVML"
    missing = devices.DeviceMemory(loader=lambda: (None, devices.NOT_INSTALLED))
    assert missing.used([1]) is None and "nvidia-ml-py" in missing.status


def test_without_nvml_installed_device_memory_says_so() -> None:
    memory = devices.DeviceMemory()
    value = memory.used([1])
    assert value is None or isinstance(value, int)
    assert memory.status  # "not sampled: no NVIDIA GPU" here


def test_no_nvidia_gpu_is_said_and_no_install_is_asked(monkeypatch) -> None:
    monkeypatch.setattr(devices, "nvidia_gpu_present", lambda: False)
    assert devices.load_nvml() == (None, devices.NO_GPU)
    assert "install" not in devices.NO_GPU


def test_a_compile_seen_in_the_native_stacks_is_not_a_hang(monkeypatch) -> None:
    """The runner: a 3 s pause after step 2 with a 1 s deadline, the native stacks in NVRTC
    (recorded text, the platform's stack tool faked): extended, noted, never a hang."""
    looks = []
    monkeypatch.setattr(stacks, "native_stacks", lambda pid: looks.append(pid) or NVRTC_PYSPY)
    outcome = execute(child_spec("compile_pause", step_floor_s=1.0))
    assert outcome.verdict.kind == "pass", outcome.verdict
    assert looks and outcome.raw.compiling
    assert outcome.verdict.evidence["kernel_compile_s"] >= 1.0
    assert "nvrtcCompileProgram" in outcome.verdict.reason


def test_a_real_hang_is_still_called_at_its_deadline(monkeypatch) -> None:
    monkeypatch.setattr(stacks, "native_stacks", lambda pid: BACKLOG_PYSPY)
    outcome = execute(child_spec("sleep", step_floor_s=1.0))
    assert outcome.verdict.label == "hang:cpu_idle", outcome.verdict
    assert outcome.verdict.evidence["stalled_s"] < 2.5
    assert outcome.raw.native_stacks == BACKLOG_PYSPY and not outcome.raw.compiling


# A `sample` report in sample(1)'s documented layout (header, call graph, totals, images);
# not recorded on a Mac: no public recording of a Metal compile was found
SAMPLE_REPORT = """\
Analysis of sampling Python (pid 4412) every 1 millisecond
Process:         Python [4412]
Path:            /opt/homebrew/Cellar/python@3.12/3.12.7/Frameworks/Python.framework/Python
Load Address:    0x100ad8000
Date/Time:       2026-11-20 10:12:31.204 +0100

""" + METAL_SAMPLE + """\

Total number in stack (recursive counted multiple times):
        812       mlx::core::eval(std::vector<mlx::core::array>)  (in libmlx.dylib)

Sort by top of stack, same collapsed (when >= 5):
        812       MTLCompilerConnection::compileRequest  (in MTLCompiler)

Binary Images:
       0x100ad8000 -        0x100adbfff +Python (0) <5D0A...> /opt/homebrew/.../Python
"""


def test_macos_native_stacks_come_from_sample(monkeypatch) -> None:
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv)
        Path(argv[argv.index("-file") + 1]).write_text(SAMPLE_REPORT)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(stacks, "macos", lambda: True)
    monkeypatch.setattr(stacks.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(stacks.subprocess, "run", fake_run)
    text = stacks.native_stacks(4412)
    assert calls[0][:5] == ["/usr/bin/sample", "4412", "1", "-mayDie", "-file"]
    assert text.startswith("Analysis of sampling Python (pid 4412)")
    assert "Process:         Python [4412]" in text and "Binary Images" not in text
    assert "[0x" not in text and "(in Metal) + 132" not in text
    assert "-[_MTLDevice newLibraryWithSource:options:error:]  (in Metal)" in text
    assert compiler_frame(text) == "newLibraryWithSource"


def test_macos_without_sample_says_so(monkeypatch) -> None:
    monkeypatch.setattr(stacks, "macos", lambda: True)
    monkeypatch.setattr(stacks.shutil, "which", lambda name: None)
    assert "`sample` tool was not found" in stacks.native_stacks(1)


def test_plots_show_gpu_memory_beside_rss_where_sampled() -> None:
    pytest.importorskip("matplotlib")
    from mlxprobe.reporters import plots

    series = {"step": [1, 2, 3], "step_ms": [2.0, 2.1, 2.0], "loss": [3.0, 2.5, 2.0],
              "rss_mb": [904.0, 905.0, 905.0], "mx_active_mb": [0.6, 0.7, 0.7]}
    without = plots.figure_svg([plots.Line(series, "#1f77b4")])
    with_gpu = plots.figure_svg([plots.Line({**series, "device_mb": [610.0, 612.0, 612.0]},
                                            "#1f77b4")])
    assert "GPU memory" not in without and "GPU memory (MB, NVML)" in with_gpu
