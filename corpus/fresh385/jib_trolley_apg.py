"""Gantry-crane anti-sway: train a feedback policy by backpropagating through
an unrolled nonlinear trolley/pendulum simulator (analytic policy gradient).
A discrete LQR designed on the linearised plant is the reference."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

G, M_TROLLEY, M_LOAD, ROPE = 9.81, 1.0, 0.5, 1.0
DT, U_MAX = 0.1, 6.0
Q = np.array([1.0, 0.1, 2.0, 0.1], dtype=np.float32)
R = 0.02


def plant_step(s, u):
    x, v, th, w = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    sn, cs = mx.sin(th), mx.cos(th)
    den = M_TROLLEY + M_LOAD * sn * sn
    acc = (u + M_LOAD * ROPE * w * w * sn + M_LOAD * G * sn * cs) / den
    alpha = -(acc * cs + G * sn) / ROPE
    v2 = v + DT * acc
    w2 = w + DT * alpha
    return mx.stack([x + DT * v2, v2, th + DT * w2, w2], axis=1)


def stage_cost(s, u):
    return (s * s * mx.array(Q)).sum(axis=1) + R * u * u


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, s):
        h = mx.tanh(self.l1(s))
        h = mx.tanh(self.l2(h))
        return U_MAX * mx.tanh(self.out(h)[:, 0] / U_MAX)


def rollout_cost(controller, s0, horizon):
    s, total = s0, mx.zeros((s0.shape[0],))
    for _ in range(horizon):
        u = controller(s)
        total = total + DT * stage_cost(s, u)
        s = plant_step(s, u)
    return total, s


def lqr_gain():
    eps = 1e-3
    zero = mx.zeros((1, 4))
    Ad = np.zeros((4, 4))
    for j in range(4):
        e = np.zeros((1, 4), dtype=np.float32)
        e[0, j] = eps
        Ad[:, j] = (np.array(plant_step(mx.array(e), mx.zeros((1,)))[0])
                    - np.array(plant_step(mx.array(-e), mx.zeros((1,)))[0])) / (2 * eps)
    Bd = ((np.array(plant_step(zero, mx.full((1,), eps))[0])
           - np.array(plant_step(zero, mx.full((1,), -eps))[0])) / (2 * eps))[:, None]
    Qd, Rd = np.diag(Q) * DT, np.array([[R * DT]])
    P = Qd.copy()
    for _ in range(5000):
        K = np.linalg.solve(Rd + Bd.T @ P @ Bd, Bd.T @ P @ Ad)
        Pn = Qd + Ad.T @ P @ (Ad - Bd @ K)
        if np.abs(Pn - P).max() < 1e-10:
            P = Pn
            break
        P = Pn
    return K.astype(np.float32)


def initial_states(rng, n):
    x = rng.uniform(-2.0, -0.5, n)
    th = rng.uniform(-0.25, 0.25, n)
    v = rng.normal(0, 0.2, n)
    return mx.array(np.stack([x, v, th, np.zeros(n)], 1).astype(np.float32))


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    K = mx.array(lqr_gain())
    lqr = lambda s: mx.clip(-(s @ K.T)[:, 0], -U_MAX, U_MAX)
    val_s0 = initial_states(np.random.default_rng(99), 256)
    eval_h = 60
    lqr_val = rollout_cost(lqr, val_s0, eval_h)[0].mean().item()

    policy = Policy()
    mx.eval(policy.parameters())
    idle = lambda s: mx.zeros((s.shape[0],))
    eval_fn = lambda s0: rollout_cost(policy, s0, eval_h)
    print(f"&setup dt={DT} horizon_eval={eval_h} K_lqr={np.round(np.array(K)[0], 3).tolist()} "
          f"lqr_val_cost={lqr_val:.4f} do_nothing_cost={rollout_cost(idle, val_s0, eval_h)[0].mean().item():.4f} /")

    stages = [(20, 60, 3e-3), (40, 60, 2e-3), (60, 60, 1e-3)]
    t0 = time.perf_counter()
    it = 0
    for si, (horizon, iters, peak) in enumerate(stages, 1):
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, peak, 15), optim.cosine_decay(peak, iters - 15, peak * 0.1)], [15])
        opt = optim.Adam(learning_rate=sched)

        def loss_fn(model, s0):
            cost, s_end = rollout_cost(model, s0, horizon)
            return cost.mean()

        vg = nn.value_and_grad(policy, loss_fn)

        def train_step(s0):
            loss, grads = vg(policy, s0)
            grads, gnorm = optim.clip_grad_norm(grads, 5.0)
            opt.update(policy, grads)
            return loss, gnorm

        print(f"&stage n={si} horizon={horizon} steps={iters} peak_lr={peak:g} warmup_from=0.0 /")
        for k in range(1, iters + 1):
            it += 1
            lr_now = float(sched(k - 1))
            s0 = initial_states(rng, 64)
            loss, gnorm = train_step(s0)
            mx.eval(policy.parameters(), opt.state, loss, gnorm)
            if k == 1 or k % 15 == 0:
                vc, s_end = eval_fn(val_s0)
                vcm = vc.mean().item()
                sway = mx.abs(s_end[:, 2]).max().item() * 180 / math.pi
                pos = mx.abs(s_end[:, 0]).mean().item()
                print(f"&it n={it} stage={si} lr={lr_now:.2e} train_cost={loss.item():.4f} "
                      f"grad_norm={gnorm.item():.3f} val_cost={vcm:.4f} ratio_to_lqr={vcm / lqr_val:.3f} "
                      f"final_sway_deg_max={sway:.2f} final_pos_err_m={pos:.3f} t={time.perf_counter() - t0:.1f}s /")
    vc, s_end = eval_fn(val_s0)
    print(f"&done val_cost={vc.mean().item():.4f} lqr_val_cost={lqr_val:.4f} "
          f"ratio={vc.mean().item() / lqr_val:.3f} /")


if __name__ == "__main__":
    main()
