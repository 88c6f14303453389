"""upstream-jvp-where: `mx.jvp` through `mx.where(cond, constant, traced)` must return the real
tangent, not zero.

Source: https://github.com/ml-explore/mlx/issues/3627 ("JVP silently returns a zero tangent
when differentiating through mx.where", reported on mlx 0.31.2). Symptom: `mx.jvp(lambda t:
mx.where(t < -1.0, 999.0, t * t), [3.0], [1.0])` gave 0 where `mx.vjp` and central finite
differences gave 6; only when the constant is in the TRUE branch and the traced value in the
FALSE branch, whatever the condition's values. Diagnosis (mlx#3633, which fixed it together
with mlx#3629): the jvp transform passes tangents packed (`tangents[i]` belongs to
`argnums[i]`), but `Select::jvp` indexed them by argument number: with only the FALSE branch
traced it read `argnums` out of bounds, landed on the condition's slot and returned
`zeros_like(condition)`: a boolean False. ArcTan2, MaskedScatter and BitwiseBinary had the
same mistake. Fix: index by position (mlx 0.32.0).

The guard differentiates a small MLP regressor in forward mode the way such models are
differentiated (sensitivities of the prediction to the input: PINN-style derivative terms,
Jacobian-vector products): the prediction is masked with `mx.where(x_invalid, FILL,
model(x))` (constant in the TRUE branch, the report's shape), and `mx.jvp` along a fixed
direction is compared with `mx.vjp` (the exact same linear map, transposed) and with central
finite differences in float64 NumPy over the model's own weights. Also the report's scalar case
(6.0). A zero or wrong tangent is `wrong_result`. The jvps run in a process of their own:
the bug is an out-of-bounds read, which gave a False tangent in ~19 of 20 runs on 0.28.0 and
killed the process with SIGSEGV once (in a `mlxprobe gate` round); isolated, a crash of the
jvp is reported as the same `wrong_result` (evidence: `jvp_process`), so the verdict does not
flip between releases' runs.

Measured here (CPU, 2 cores, 2026-11-22): mlx 0.32.4 and 0.32.0 pass (jvp within 2.3e-7 of
the finite differences, <u, Jv> = <J^T u, v> to 2e-7, report case 6.0). mlx 0.31.2 (the
reported release), 0.31.1 and 0.27.1: the tangent is a boolean array of False (`jvp_dtype`
bool, all 0), all three checks fail: `wrong_result`; the same on 0.28.0, 0.29.3, 0.30.0 and
0.30.1. 0.32.1 to 0.32.4 pass. So the bug is in every release that installs here before
0.32.0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import mlx.core as mx
import mlx.nn as nn
import numpy as np

SCENARIO = {
    "id": "upstream-jvp-where",
    "title": "mlx#3627: mx.jvp through mx.where(cond, const, traced) returned a zero tangent",
    "source": ["https://github.com/ml-explore/mlx/issues/3627"],
    "tags": ["upstream"],
    "variants": {"guard": "pass"},
    # measured: 0.27.1, 0.31.1 and 0.31.2 return a False (zero) tangent; fixed in 0.32.0
    "expected_before_mlx": {"0.32.0": {"guard": "wrong_result"}},
    "budget_s": 60,
}

IN, HIDDEN, OUT, POINTS, FILL = 4, 16, 2, 8, 0.0
RTOL = 1e-3


def mlp(seed: int = 0) -> nn.Module:
    mx.random.seed(seed)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, OUT))
    mx.eval(model.parameters())
    return model


def numpy_forward(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The same masked prediction in float64 NumPy."""
    first, last = model.layers[0], model.layers[2]
    h = np.tanh(x @ np.array(first.weight, np.float64).T + np.array(first.bias, np.float64))
    y = h @ np.array(last.weight, np.float64).T + np.array(last.bias, np.float64)
    invalid = x[:, :1] < -5.0  # never true for these inputs, as in the report
    return np.where(invalid, FILL, y)


def inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, v, u): points, the jvp's direction, the vjp's cotangent (fixed seed)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((POINTS, IN)).astype(np.float32)
    v = rng.standard_normal((POINTS, IN)).astype(np.float32)
    return x, v, rng.standard_normal((POINTS, OUT)).astype(np.float32)


def predictor(model: nn.Module):  # noqa: ANN201 - a function of one array
    def predict(x: mx.array) -> mx.array:
        invalid = x[:, :1] < -5.0
        return mx.where(invalid, FILL, model(x))  # constant in the TRUE branch

    return predict


def jvps() -> dict:
    """The forward-mode derivatives, as plain lists (run in a process of their own)."""
    x, v, _ = inputs()
    _, (jvp,) = mx.jvp(predictor(mlp()), [mx.array(x)], [mx.array(v)])
    _, (scalar,) = mx.jvp(lambda t: mx.where(t < -1.0, 999.0, t * t), [mx.array(3.0)],
                          [mx.array(1.0)])
    return {"jvp": jvp.astype(mx.float32).tolist(), "jvp_dtype": str(jvp.dtype),
            "scalar": scalar.astype(mx.float32).item(), "scalar_dtype": str(scalar.dtype)}


def isolated_jvps() -> dict:
    """`jvps()` in a child process: the bug's out-of-bounds read returns a zero tangent on most
    runs and kills the process with SIGSEGV on some (seen once in ~20 runs on 0.28.0), so a
    crash is reported as the wrong result it is, not as a flaky verdict."""
    code = (f"import json, {__name__} as m; "
            f"print('JVPS' + json.dumps(m.jvps()))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    for line in done.stdout.splitlines():
        if line.startswith("JVPS"):
            return json.loads(line[4:])
    died = (f"signal {signal.Signals(-done.returncode).name}" if done.returncode < 0
            else f"exit {done.returncode}")
    return {"died": died, "stderr": done.stderr[-500:]}


def guard(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    model = mlp()
    x_np, v_np, u_np = inputs()
    got = isolated_jvps()
    if "died" in got:
        hint = ("mx.jvp through mx.where(cond, constant, traced) crashed (mlx#3627's "
                "out-of-bounds read); use mx.vjp or put the traced value in the TRUE branch")
        for name in ("jvp through where matches finite differences",
                     "report's case: d/dt where(t < -1, 999, t^2) at 3 is 6"):
            probe.check(name, False, hint=hint, jvp_process=got["died"],
                        stderr_tail=got["stderr"])
        return
    jvp_np = np.array(got["jvp"], np.float64)
    # vjp: <u, J v> must equal <J^T u, v> for any u
    _, (vjp,) = mx.vjp(predictor(model), [mx.array(x_np)], [mx.array(u_np)])
    lhs = float((u_np.astype(np.float64) * jvp_np).sum())
    rhs = mx.sum(vjp * mx.array(v_np)).item()
    eps = 1e-4
    x64, v64 = x_np.astype(np.float64), v_np.astype(np.float64)
    fd = (numpy_forward(model, x64 + eps * v64) - numpy_forward(model, x64 - eps * v64)) / (2 * eps)
    fd_err = float(np.abs(jvp_np - fd).max() / max(np.abs(fd).max(), 1e-12))
    probe.step(jvp_abs=float(np.abs(jvp_np).max()), fd_abs=float(np.abs(fd).max()))
    probe.check("jvp through where matches finite differences", fd_err <= RTOL,
                hint="mx.jvp through mx.where(cond, constant, traced) is wrong (mlx#3627); "
                     "use mx.vjp or put the traced value in the TRUE branch",
                jvp_dtype=got["jvp_dtype"], max_rel_err=fd_err, rtol=RTOL,
                jvp_row0=jvp_np[0].tolist(), fd_row0=fd[0].tolist())
    probe.check("jvp and vjp agree (<u, Jv> = <J^T u, v>)",
                abs(lhs - rhs) <= RTOL * max(abs(rhs), 1e-6), u_jv=lhs, jtu_v=rhs)
    probe.check("report's case: d/dt where(t < -1, 999, t^2) at 3 is 6",
                abs(got["scalar"] - 6.0) < 1e-5, jvp=got["scalar"], dtype=got["scalar_dtype"])
