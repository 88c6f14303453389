"""Maglev rotor test rig: learn the rig's Lagrangian L(q, qdot) from
accelerometer logs, then predict accelerations through Euler-Lagrange.

Rig: a levitated rotor displaced radially (q, scaled units) with a stiffening
magnetic restoring force.  The logger gives (q, qdot, qddot + sensor noise).
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

MASS = 1.3
K_LIN = 1.0
K_CUBIC = 0.8
NOISE = 0.05


def true_accel(q, qd):
    return -(K_LIN * q + K_CUBIC * q ** 3) / MASS


def true_energy(q, qd):
    return 0.5 * MASS * qd ** 2 + 0.5 * K_LIN * q ** 2 + 0.25 * K_CUBIC * q ** 4


def make_logs(rng, n, noisy):
    q = rng.uniform(-1.5, 1.5, n)
    qd = rng.uniform(-1.5, 1.5, n)
    a = true_accel(q, qd)
    if noisy:
        a = a + NOISE * rng.standard_normal(n)
    x = np.stack([q, qd], 1).astype(np.float32)
    return x, a.astype(np.float32)


class LagrangianNet(nn.Module):
    """L = 0.5 * exp(log_m) * qdot^2 - V(q), V a small softplus MLP.
    V has no output bias: a constant in L never reaches the dynamics."""

    def __init__(self, hidden=48):
        super().__init__()
        self.log_m = mx.zeros((1,))
        self.v1 = nn.Linear(1, hidden)
        self.v2 = nn.Linear(hidden, hidden)
        self.v_out = nn.Linear(hidden, 1, bias=False)

    def __call__(self, x):
        q, qd = x[:, :1], x[:, 1:]
        h = nn.softplus(self.v1(q))
        h = nn.softplus(self.v2(h))
        pot = self.v_out(h)
        return 0.5 * mx.exp(self.log_m) * qd ** 2 - pot

    def scalar(self, state):
        return self(state[None])[0, 0]


def accel_from_lagrangian(model, x):
    """Euler-Lagrange for one degree of freedom:
    qddot = (dL/dq - d2L/(dqdot dq) * qdot) / d2L/dqdot2"""
    dL = mx.grad(model.scalar)

    def dL_dqd(s):
        return dL(s)[1]

    d2L = mx.grad(dL_dqd)

    def one(s):
        g = dL(s)
        h = d2L(s)
        return (g[0] - h[0] * s[1]) / h[1]

    return mx.vmap(one)(x)


def loss_fn(model, x, a):
    pred = accel_from_lagrangian(model, x)
    return mx.mean((pred - a) ** 2)


def build(total_steps, warm):
    model = LagrangianNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, total_steps - warm, 1e-5)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-5)
    return model, opt


def rk4_rollout(accel, q0, qd0, dt, steps):
    q, qd = q0, qd0
    for _ in range(steps):
        def f(q_, qd_):
            return qd_, accel(q_, qd_)
        k1 = f(q, qd)
        k2 = f(q + 0.5 * dt * k1[0], qd + 0.5 * dt * k1[1])
        k3 = f(q + 0.5 * dt * k2[0], qd + 0.5 * dt * k2[1])
        k4 = f(q + dt * k3[0], qd + dt * k3[1])
        q = q + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        qd = qd + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return q, qd


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr, atr = make_logs(rng, 3000, noisy=True)
    xva, ava = make_logs(rng, 600, noisy=False)
    Xtr, Atr = mx.array(xtr), mx.array(atr)
    Xva, Ava = mx.array(xva), mx.array(ava)

    # reference numbers
    zero_rmse = float(np.sqrt(np.mean(ava ** 2)))
    design = np.concatenate([xtr, np.ones((len(xtr), 1), np.float32)], 1)
    coef, *_ = np.linalg.lstsq(design, atr, rcond=None)
    lin_pred = np.concatenate([xva, np.ones((len(xva), 1), np.float32)], 1) @ coef
    lin_rmse = float(np.sqrt(np.mean((lin_pred - ava) ** 2)))
    print("# maglev rotor rig: 3000 noisy logs, 600 clean checks")
    print(f"# sensor noise sd {NOISE:.3f} (floor for train mse ~{NOISE**2:.4f})")
    print(f"# reference: zero-accel rmse {zero_rmse:.4f}  linear-spring rmse {lin_rmse:.4f}")

    total, warm, half, batch = 1600, 120, 800, 128
    model, opt = build(total, warm)
    mx.eval(model.parameters())
    lg = nn.value_and_grad(model, loss_fn)

    _, g0 = lg(model, Xtr[:batch], Atr[:batch])
    leaves = tree_flatten(g0)
    nz = sum(1 for _, v in leaves if float(mx.abs(v).max()) > 0)
    print(f"# gradient leaves {len(leaves)}, non-zero {nz}")

    print("session\tstep\tlr\ttrain_mse\tval_rmse")
    order = rng.permutation(len(xtr))
    cursor = 0
    window = []
    ckpt_dir = tempfile.mkdtemp()

    def run(model, opt, lg, start, stop, session):
        nonlocal order, cursor, window
        for step in range(start, stop):
            if cursor + batch > len(order):
                order = rng.permutation(len(xtr))
                cursor = 0
            idx = mx.array(order[cursor:cursor + batch])
            cursor += batch
            lr_used = float(opt.learning_rate)
            loss, grads = lg(model, Xtr[idx], Atr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(float(loss))
            if step == 0 or (step + 1) % 200 == 0:
                vr = float(mx.sqrt(loss_fn(model, Xva, Ava)))
                print(f"{session}\t{step + 1}\t{lr_used:.2e}\t{np.mean(window):.5f}\t{vr:.5f}")
                window = []

    run(model, opt, lg, 0, half, "A")

    model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                        dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
        json.dump({"step": half, "cursor": cursor}, f)
    ref = float(loss_fn(model, Xva, Ava))
    del model, opt, lg
    print(f"# checkpoint written at step {half}")

    model, opt = build(total, warm)
    model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
    with open(os.path.join(ckpt_dir, "meta.json")) as f:
        meta = json.load(f)
    mx.eval(model.parameters(), opt.state)
    again = float(loss_fn(model, Xva, Ava))
    print(f"# resumed at step {meta['step']} (optimizer step {int(opt.state['step'])}), "
          f"val mse before {ref:.6f} after {again:.6f}")
    lg = nn.value_and_grad(model, loss_fn)
    run(model, opt, lg, half, total, "B")

    # long rollouts of the learned dynamics (takes a while, prints at the end)
    q0 = mx.array(np.linspace(-1.2, 1.2, 16).astype(np.float32))
    qd0 = mx.array(np.linspace(0.8, -0.8, 16).astype(np.float32))

    def learned(q, qd):
        return accel_from_lagrangian(model, mx.stack([q, qd], 1))

    def exact(q, qd):
        return -(K_LIN * q + K_CUBIC * q ** 3) / MASS

    e0 = true_energy(q0, qd0)
    ql, qdl = rk4_rollout(learned, q0, qd0, 0.05, 200)
    qe, qde = rk4_rollout(exact, q0, qd0, 0.05, 200)
    mx.eval(ql, qdl, qe, qde)
    drift_l = float(mx.mean(mx.abs(true_energy(ql, qdl) - e0) / e0))
    drift_e = float(mx.mean(mx.abs(true_energy(qe, qde) - e0) / e0))
    pos_err = float(mx.sqrt(mx.mean((ql - qe) ** 2)))
    final = float(mx.sqrt(loss_fn(model, Xva, Ava)))
    print(f"# final val rmse {final:.4f} (linear spring {lin_rmse:.4f}, zero {zero_rmse:.4f})")
    print(f"# 10 s rollout: relative energy drift learned {100 * drift_l:.2f}% "
          f"exact-model {100 * drift_e:.4f}%, position rmse {pos_err:.4f}")
    print(f"# done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
