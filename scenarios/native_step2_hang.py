"""native-step2-hang: the mlx-rs trainer of the reports, as a compiled program (MLX's C++ API).

Source: ../shared/seeds/000_4149ee8ead452f99.txt ("The Rust training loop was hanging on Step
2 because it wasn't properly materializing MLX's lazy computation graph after
`optimizer.update()`", "deadlock when trying to create a new `value_and_grad` on Step 2",
"OOM after 5 steps (no eval)"), 001_5a8363591f943652.txt (`clear_cache()` after the update
as the fix), 002_da2a91385045b159.txt (`value_and_grad` built inside the training step).
The program is `native/native_step2.cpp`: a tiny next-token MLP (64-token vocabulary,
32-dim embedding, 128 hidden, batch 256) trained with AdamW written out in MLX ops (the
wheel's C++ headers have no optimizers; mlx-rs's AdamW is Rust over the same ops), built
against the installed wheel once (`mlxprobe/native/build.py`) and run as `mlxprobe watch`
runs a compiled program: the interposer preloaded (heartbeats from `mlx::core::eval`,
MLX's memory counters), progress from its `Step N/T | loss: X` lines.

Variants (the program's first argument):
- broken: `optimizer.update` with no eval of parameters or optimizer state, the loss logged
  (so evaluated) every 2000 steps. Symptom: nothing for a while, then the first log line
  computes the whole backlog. Fix: `eval(loss, parameters, optimizer state)` every step.
- clear-cache: broken + `clear_cache()` after every update (the second report's "fix"). It
  frees MLX's cached buffers, not the graph: the same backlog.
- broken-loss-eval: the seeds' loop as they show it: `eval([&loss])` and `loss.item()` every
  step, the update never evaluated.
- recreate-vg: `value_and_grad` re-created every step, otherwise the correct loop.
- fixed: one eval of loss, parameters and optimizer state per step.

Measured on CUDA (one H100, mlx 0.32.4 + mlx-cuda-13, no gdb or eu-stack on that machine,
2026-11-23): the 2000-step backlog of broken and clear-cache completes in 4-20 s and nothing
stalls past the warm-up credit, so both get `pass` there (3/5 variants match their CPU
expectations, twice: 34 s cold, 5 s warm); the three correct loops pass (their step-1 kernel
compile, 1.6 s, was a false hang before a native warm-up stall with unreadable stacks was
credited as possibly compiling). The expectations below are the CPU's.

Measured here (mlx 0.32.4 CPU, g++ 12, 2 cores shared with ~8 jobs, load 10-17, 2026-11-23):
- No variant deadlocks, at step 2 or later. The lazy loops (broken, clear-cache) build 2000
  steps of graph with no evaluation (~0.6 ms a step, 1.2 s in all; RSS +0.1 MB a step), then
  the first `loss.item()` runs the backlog: 2000 steps took 15-70 s here depending on the
  load, at a peak RSS of 220 MB (3000 steps: 45 s, 333 MB); `clear_cache()` changed neither.
  Given the time it finishes, with the loss and parameters of the fixed loop (300 steps:
  the same loss 0.5523 and parameter checksum 3254.500027): the lazy graph computes the same
  numbers, later. Under the watchdog it is `hang:cpu_busy`: the only heartbeat is the
  model's initial eval, and the stall is inside `mlx::core::eval` <- `mlx::core::array::eval`
  <- `train_lazy` (native stacks from gdb; the interposer reports the eval open since the
  backlog began), as the Python loop's backlog is (`step2-hang`).
- broken-loss-eval (the seeds' own code) is NOT broken: evaluating the loss evaluates the
  parameters it depends on, so each step's update is computed one step late, with the next
  loss. 300 steps gave the very loss and parameter checksum of the fixed loop (loss 4.365 ->
  0.552, checksum 3254.500027), RSS flat at 12 MB. It is a `pass`.
- recreate-vg: re-creating `value_and_grad` every step costs nothing measurable and changes
  nothing (same loss, same checksum): `pass`. The seeds' "deadlock when creating a new
  value_and_grad" was not reproduced.
- fixed: ~8 ms a step, loss 4.365 -> 0.552 in 300 steps, RSS 12 MB: `pass`.
So the reports' "hang at step 2" is not what this loop does in MLX's C++ API on CPU: a loop
with no eval at all grows a backlog (as in Python, `step2-hang`); a loop that evaluates its
loss every step is fine. What hung their Rust trainer is not shown by their code.
"""

SCENARIO = {
    "id": "native-step2-hang",
    "title": "the mlx-rs step-2 trainer in MLX's C++ API: no eval of the update, clear_cache, "
             "value_and_grad per step",
    "source": ["000_4149ee8ead452f99.txt", "001_5a8363591f943652.txt",
               "002_da2a91385045b159.txt"],
    "native": {"project": "native", "program": "native_step2"},
    "variants": {"broken": "hang:cpu_busy", "clear-cache": "hang:cpu_busy",
                 "broken-loss-eval": "pass", "recreate-vg": "pass", "fixed": "pass"},
    "budget_s": 120,
    "tags": ["native"],
}
