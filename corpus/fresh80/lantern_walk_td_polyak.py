# Lantern-lighter's walk: a lamplighter wanders a 21-lamp street, stepping left or right at
# random; reaching the harbour end pays +1, the tavern end pays -1. We learn the state value
# with TD(0) on a small MLP, a Polyak-averaged target network (tau 0.01), a replay buffer
# that fills to its cap and then holds, and a compiled update step with explicit state.
from functools import partial
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_LAMPS = 21
GAMMA = 0.97
CAP = 6000
TAU = 0.01


def encode(s):
    s = np.asarray(s, dtype=np.float32)
    pos = (s - (N_LAMPS + 1) / 2) / (N_LAMPS / 2)
    k = np.arange(1, 5, dtype=np.float32)
    return np.concatenate([pos[:, None], np.sin(np.pi * pos[:, None] * k), np.cos(np.pi * pos[:, None] * k)], 1)


def true_values():
    # states 1..N_LAMPS non-terminal; 0 and N_LAMPS+1 terminal
    P = np.zeros((N_LAMPS, N_LAMPS))
    r = np.zeros(N_LAMPS)
    for i in range(N_LAMPS):
        for d in (-1, 1):
            j = i + d
            if j < 0:
                r[i] += 0.5 * -1.0
            elif j >= N_LAMPS:
                r[i] += 0.5 * 1.0
            else:
                P[i, j] += 0.5
    return np.linalg.solve(np.eye(N_LAMPS) - GAMMA * P, r)


class ValueNet(nn.Module):
    def __init__(self, d_in=9, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.v = nn.Linear(width, 1)

    def __call__(self, x):
        return self.v(nn.tanh(self.l2(nn.tanh(self.l1(x))))).squeeze(-1)


class Replay:
    def __init__(self, cap):
        self.cap, self.rows = cap, []

    def add(self, s, r, s2, done):
        self.rows.append((s, r, s2, done))
        if len(self.rows) > self.cap:
            self.rows.pop(0)

    def sample(self, rng, n):
        idx = rng.integers(0, len(self.rows), size=n)
        s, r, s2, d = zip(*(self.rows[i] for i in idx))
        return np.array(s), np.array(r, np.float32), np.array(s2), np.array(d, np.float32)


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    v_true = true_values()
    X_all = mx.array(encode(np.arange(1, N_LAMPS + 1)))

    online, target = ValueNet(), ValueNet()
    target.update(tree_map(lambda a: a, online.parameters()))
    mx.eval(online.parameters(), target.parameters())
    opt = optim.Adam(learning_rate=1e-3)

    def td_loss(model, x, y):
        return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")

    grad_fn = nn.value_and_grad(online, td_loss)

    @partial(mx.compile, inputs=[online.state, opt.state], outputs=[online.state, opt.state])
    def update(x, y):
        loss, grads = grad_fn(online, x, y)
        opt.update(online, grads)
        return loss

    def report_values():
        v = np.array(online(X_all))
        rmse = float(np.sqrt(np.mean((v - v_true) ** 2)))
        order = float(np.mean(np.diff(v) > 0) * 100)
        return rmse, order

    rmse0, order0 = report_values()
    print(f"The target network follows the online one by Polyak averaging, tau {TAU}.")
    print(f"The street has {N_LAMPS} lamps; true values range {v_true.min():.3f} .. {v_true.max():.3f} (gamma {GAMMA}).")
    print(f"Before learning, the value estimate is {rmse0:.3f} RMSE from the truth and {order0:.0f}% of neighbouring lamps are ordered correctly.")

    buf = Replay(CAP)
    s = N_LAMPS // 2 + 1
    steps, batch, t0 = 12000, 64, time.time()
    td_window = []
    for t in range(1, steps + 1):
        # one environment move per update
        s2 = s + (1 if rng.random() < 0.5 else -1)
        if s2 == 0:
            buf.add(s, -1.0, s, 1.0); s = N_LAMPS // 2 + 1
        elif s2 == N_LAMPS + 1:
            buf.add(s, 1.0, s, 1.0); s = N_LAMPS // 2 + 1
        else:
            buf.add(s, 0.0, s2, 0.0); s = s2
        if len(buf.rows) < batch:
            continue
        bs, br, bs2, bd = buf.sample(rng, batch)
        x, x2 = mx.array(encode(bs)), mx.array(encode(bs2))
        y = mx.stop_gradient(mx.array(br) + GAMMA * (1.0 - mx.array(bd)) * target(x2))
        if t == batch:
            _, g = grad_fn(online, x, y)
            flat = tree_flatten(g)
            zero = [k for k, a in flat if float(mx.abs(a).max()) == 0.0]
            print(f"At the first update all {len(flat)} gradient leaves were checked; zero ones: {zero or 'none'}.")
        loss = update(x, y)
        mx.eval(online.state, opt.state, loss)
        td_window.append(loss.item())
        # Polyak (soft) target: target <- tau * online + (1 - tau) * target
        target.update(tree_map(lambda o, g: TAU * o + (1.0 - TAU) * g,
                               online.parameters(), target.parameters()))
        mx.eval(target.parameters())
        if t % 1500 == 0:
            rmse, order = report_values()
            print(f"After {t} moves (buffer holds {len(buf.rows)} of {CAP}), the mean TD huber over the last "
                  f"{len(td_window)} updates is {np.mean(td_window):.5f}; value RMSE {rmse:.4f}, "
                  f"{order:.0f}% of neighbours ordered, {time.time() - t0:.1f}s in.")
            td_window = []
    rmse, order = report_values()
    print(f"Finished: value RMSE {rmse:.4f} (lower is better, started at {rmse0:.3f}); "
          f"the TD loss is a noisy bootstrap target, not the progress measure.")


if __name__ == "__main__":
    main()
