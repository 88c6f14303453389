"""Learned simulator of a playground swing that a child pushes.

A residual MLP maps (angle, angular velocity, push force) at one 0.05 s tick
to the state at the next tick.  It is trained on multi-step rollouts whose
horizon grows in stages (1, 2, 4, 8 ticks), so every stage starts with a higher
loss than the previous stage ended with.  Each application of the step
network inside the rollout is wrapped in nn.utils.checkpoint (mx.checkpoint) to keep the backward
pass from holding all the intermediate activations.

Output: CSV rows on stdout (comment lines start with '#').
"""
import csv
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

DT = 0.05
G_OVER_L = 9.81 / 2.2
DAMP = 0.12


def true_step(th, om, f):
    # semi-implicit Euler with 4 substeps of a damped, forced pendulum
    h = DT / 4
    for _ in range(4):
        om = om + h * (-G_OVER_L * np.sin(th) - DAMP * om + f)
        th = th + h * om
    return th, om


def make_episodes(n_ep, length, rng):
    th = rng.uniform(-1.0, 1.0, n_ep)
    om = rng.uniform(-1.5, 1.5, n_ep)
    # pushes: short pulses at random times
    F = np.zeros((n_ep, length))
    for e in range(n_ep):
        for t0 in rng.choice(length, size=3, replace=False):
            F[e, t0:t0 + 3] = rng.uniform(-2.0, 2.0)
    S = np.zeros((n_ep, length + 1, 2))
    S[:, 0, 0], S[:, 0, 1] = th, om
    for t in range(length):
        th, om = true_step(th, om, F[:, t])
        S[:, t + 1, 0], S[:, t + 1, 1] = th, om
    S += rng.normal(0, 0.002, S.shape)  # encoder noise
    return S.astype(np.float32), F.astype(np.float32)


class StepNet(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.inp = nn.Linear(4, h)
        self.hid = nn.Linear(h, h)
        self.out = nn.Linear(h, 2)

    def __call__(self, s, f):
        x = mx.concatenate([mx.sin(s[:, :1]), mx.cos(s[:, :1]), s[:, 1:], f[:, None]], 1)
        x = nn.tanh(self.inp(x))
        x = nn.tanh(self.hid(x))
        return s + DT * self.out(x)   # residual: predict the increment


def rollout(model, s0, F):
    # F: (B, H). The checkpointed step recomputes each tick's activations in the
    # backward; nn.utils.checkpoint passes the module's trainable parameters to
    # mx.checkpoint as explicit inputs so their gradients flow through it.
    step = nn.utils.checkpoint(model)
    s, preds = s0, []
    for t in range(F.shape[1]):
        s = step(s, F[:, t])
        preds.append(s)
    return mx.stack(preds, 1)


def rollout_loss(model, s0, F, target):
    return mx.mean(mx.square(rollout(model, s0, F) - target))


def windows(S, F, H, n, rng):
    ep = rng.integers(0, S.shape[0], n)
    t0 = rng.integers(0, F.shape[1] - H + 1, n)
    idx_t = t0[:, None] + np.arange(H)[None, :]
    s0 = S[ep, t0]
    f = F[ep[:, None], idx_t]
    tgt = S[ep[:, None], idx_t + 1]
    return mx.array(s0), mx.array(f), mx.array(tgt)


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    S_tr, F_tr = make_episodes(300, 80, rng)
    S_va, F_va = make_episodes(60, 80, rng)
    val16 = windows(S_va, F_va, 16, 512, rng)

    model = StepNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    loss_and_grad = nn.value_and_grad(model, rollout_loss)

    w = csv.writer(sys.stdout, lineterminator="\n")
    print(f"# episodes train={S_tr.shape[0]} val={S_va.shape[0]} ticks=80 dt={DT}")
    # a do-nothing simulator (state stays put) as the reference for the 16-tick error
    s0v, fv, tv = val16
    hold = mx.mean(mx.square(mx.repeat(s0v[:, None, :], 16, 1) - tv)).item()
    print(f"# hold-still baseline 16-tick mse {hold:.5f}")

    s0, f, tgt = windows(S_tr, F_tr, 1, 64, rng)
    _, g = loss_and_grad(model, s0, f, tgt)
    zero = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0.0]
    print(f"# grad check: {len(tree_flatten(g))} leaves, zero: {zero or 'none'}")

    w.writerow(["stage", "horizon", "step", "train_mse_window", "val16_mse", "secs"])
    t_start = time.perf_counter()
    step = 0
    for stage, (H, n_steps) in enumerate([(1, 400), (2, 300), (4, 300), (8, 300)], 1):
        window = []
        for k in range(1, n_steps + 1):
            s0, f, tgt = windows(S_tr, F_tr, H, 64, rng)
            loss, g = loss_and_grad(model, s0, f, tgt)
            g, _ = optim.clip_grad_norm(g, 1.0)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            step += 1
            if k in (1, 10) or k % 100 == 0:
                v = rollout_loss(model, *val16).item()
                w.writerow([stage, H, step, f"{np.mean(window):.6f}", f"{v:.6f}",
                            f"{time.perf_counter() - t_start:.1f}"])
                window = []
    v = rollout_loss(model, *val16).item()
    print(f"# done: val 16-tick mse {v:.6f} vs hold-still {hold:.5f}")


if __name__ == "__main__":
    main()
