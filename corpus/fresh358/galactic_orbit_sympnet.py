"""Star orbits in a Henon-Heiles galactic potential: learn the 0.3-time-unit
flow map (q1, q2, p1, p2) -> next state with a G-SympNet (alternating
gradient shear modules, symplectic by construction) and, beside it, a plain
residual MLP map trained on the same data with the same budget.

Output is gnuplot-ready: '#' comment lines and whitespace columns, one data
block per (model, stage), blocks separated by two blank lines.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

DT = 0.3
SUB = 30


def grad_v(q):
    q1, q2 = q[..., 0], q[..., 1]
    return np.stack([q1 + 2 * q1 * q2, q2 + q1 ** 2 - q2 ** 2], -1)


def energy_np(x):
    q1, q2, p1, p2 = x[..., 0], x[..., 1], x[..., 2], x[..., 3]
    return 0.5 * (p1 ** 2 + p2 ** 2) + 0.5 * (q1 ** 2 + q2 ** 2) + q1 ** 2 * q2 - q2 ** 3 / 3


def energy_mx(x):
    q1, q2, p1, p2 = x[..., 0], x[..., 1], x[..., 2], x[..., 3]
    return 0.5 * (p1 ** 2 + p2 ** 2) + 0.5 * (q1 ** 2 + q2 ** 2) + q1 ** 2 * q2 - q2 ** 3 / 3


def flow(x):
    q, p = x[..., :2].copy(), x[..., 2:].copy()
    h = DT / SUB
    for _ in range(SUB):
        p -= 0.5 * h * grad_v(q)
        q += h * p
        p -= 0.5 * h * grad_v(q)
    return np.concatenate([q, p], -1)


def sample_states(rng, n, emax=0.09):
    out = []
    while len(out) < n:
        x = rng.uniform(-0.45, 0.45, (4 * n, 4))
        e = energy_np(x)
        out.extend(x[(e < emax) & (e > 0.01)])
    return np.array(out[:n])


def trajectories(rng, n, horizon):
    x = sample_states(rng, n)
    seq = [x]
    for _ in range(horizon):
        seq.append(flow(seq[-1]))
    return np.stack(seq, 1).astype(np.float32)   # (n, horizon+1, 4)


class Shear(nn.Module):
    """p += K^T (a * tanh(K q + b))  (or q += ... of p): an exact symplectic map."""

    def __init__(self, width, upper):
        super().__init__()
        self.upper = upper
        self.K = 0.5 * mx.random.normal((width, 2))
        self.a = 0.05 * mx.random.normal((width,))
        self.b = mx.zeros((width,))

    def __call__(self, x):
        q, p = x[:, :2], x[:, 2:]
        if self.upper:
            p = p + (self.a * mx.tanh(q @ self.K.T + self.b)) @ self.K
        else:
            q = q + (self.a * mx.tanh(p @ self.K.T + self.b)) @ self.K
        return mx.concatenate([q, p], 1)


class SympNet(nn.Module):
    def __init__(self, layers=8, width=24):
        super().__init__()
        self.mods = [Shear(width, upper=(i % 2 == 0)) for i in range(layers)]

    def __call__(self, x):
        for m in self.mods:
            x = m(x)
        return x


class ResidualMap(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(),
                                  nn.Linear(hidden, hidden), nn.Tanh(),
                                  nn.Linear(hidden, 4))

    def __call__(self, x):
        return x + self.body(x)


def rollout_loss(model, traj, horizon):
    x = traj[:, 0]
    total = 0.0
    for k in range(1, horizon + 1):
        x = model(x)
        total = total + mx.mean(mx.sum((x - traj[:, k]) ** 2, axis=1))
    return total / horizon


def fit(name, model, train, val, stages, rng, batch=128):
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=optim.step_decay(4e-3, 0.5, 700))
    n = train.shape[0]
    lg = nn.value_and_grad(model, rollout_loss)
    _, g0 = lg(model, mx.array(train[:batch]), 1)
    leaves = tree_flatten(g0)
    nz = sum(1 for _, v in leaves if float(mx.abs(v).max()) > 0)
    print(f"# {name}: {sum(v.size for _, v in tree_flatten(model.parameters()))} parameters, "
          f"gradient leaves {len(leaves)} non-zero {nz}")
    step = 0
    for si, (horizon, steps) in enumerate(stages):
        print(f"# model {name} stage {si + 1} horizon {horizon}")
        print("# step lr train_loss val_1step_rmse val_horizon_loss")
        acc = []
        for _ in range(steps):
            idx = mx.array(rng.integers(0, n, batch))
            lr = float(opt.learning_rate)
            loss, grads = lg(model, mx.array(train)[idx], horizon)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            acc.append(float(loss))
            step += 1
            if step % 150 == 0:
                v = mx.array(val)
                one = float(mx.sqrt(rollout_loss(model, v, 1)))
                hv = float(rollout_loss(model, v, horizon))
                print(f"{step:6d} {lr:.3e} {np.mean(acc):.3e} {one:.3e} {hv:.3e}")
                acc = []
        print()
        print()
    return model


def long_run(model, x0, steps):
    x = x0
    e0 = energy_mx(x0)
    worst = mx.zeros_like(e0)
    for _ in range(steps):
        x = model(x)
        worst = mx.maximum(worst, mx.abs(energy_mx(x) - e0) / e0)
        mx.eval(x, worst)
    return x, float(mx.mean(worst))


def main():
    t0 = time.time()
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    train = trajectories(rng, 3000, 4)
    val = trajectories(rng, 400, 4)
    step_size = float(np.sqrt(np.mean(np.sum((val[:, 1] - val[:, 0]) ** 2, 1))))
    print(f"# henon-heiles flow map, dt {DT}, train {len(train)} orbits x 4 steps, val {len(val)}")
    print(f"# reference: identity-map 1-step rmse {step_size:.3e}")
    print(f"# generated in {time.time() - t0:.1f}s")
    print()
    print()
    stages = [(1, 900), (4, 600)]
    symp = fit("sympnet", SympNet(), train, val, stages, rng)
    base = fit("residual_mlp", ResidualMap(), train, val, stages, rng)

    # long integrations, 1500 map steps each (no output until the summary)
    x0 = mx.array(sample_states(np.random.default_rng(99), 64).astype(np.float32))
    ref = x0
    for _ in range(20):
        ref = mx.array(flow(np.array(ref)))
    xs, ds = long_run(symp, x0, 1500)
    xb, db = long_run(base, x0, 1500)
    xs20, _ = long_run(symp, x0, 20)
    xb20, _ = long_run(base, x0, 20)
    es = float(mx.sqrt(mx.mean(mx.sum((xs20 - ref) ** 2, 1))))
    eb = float(mx.sqrt(mx.mean(mx.sum((xb20 - ref) ** 2, 1))))
    print("# summary model val_1step_rmse state_err_20steps max_rel_energy_err_1500steps")
    for name, m, e20, d in (("sympnet", symp, es, ds), ("residual_mlp", base, eb, db)):
        one = float(mx.sqrt(rollout_loss(m, mx.array(val), 1)))
        print(f"{name:>13s} {one:.3e} {e20:.3e} {d:.3e}")
    print(f"# finished in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
