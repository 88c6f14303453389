"""Per-session regression: every step trains on one user session (sessions differ in size).

The step is compiled with shapeless=True so the varying session sizes do not recompile it.
Sessions are visited shortest-first (a simple curriculum).
"""
import random
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def mean_sq(err):
    return mx.sum(err * err) / err.shape[0]


class Scorer(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.l1 = nn.Linear(d, hidden)
        self.l2 = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x))).squeeze(-1)


def objective(scorer, x, y):
    return mean_sq(scorer(x) - y)


def make_sessions(n_sessions, d, rng):
    w = mx.random.normal((d,))
    sessions = []
    for _ in range(n_sessions):
        size = rng.choice([8, 16, 32, 64, 128])
        x = mx.random.normal((size, d))
        sessions.append((x, mx.tanh(x @ w) + 0.05 * mx.random.normal((size,))))
    return sessions, w


if __name__ == "__main__":
    rng = random.Random(0)
    mx.random.seed(0)
    sessions, w = make_sessions(120, 6, rng)
    sessions.sort(key=lambda s: s[0].shape[0])
    mx.eval(sessions)
    scorer = Scorer(6, 24)
    mx.eval(scorer.parameters())
    opt = optim.SGD(learning_rate=0.05)
    state = [scorer.state, opt.state]
    vg = nn.value_and_grad(scorer, objective)

    @partial(mx.compile, inputs=state, outputs=state, shapeless=True)
    def train_step(x, y):
        loss, grads = vg(scorer, x, y)
        opt.update(scorer, grads)
        return loss

    evaluate = mx.compile(partial(objective, scorer), inputs=scorer.state, shapeless=True)

    print(f"initial loss on first session: {evaluate(*sessions[0]).item():.4f}")
    for i, (x, y) in enumerate(sessions):
        loss = train_step(x, y)
        mx.eval(state, loss)
        if i % 20 == 0 or i == len(sessions) - 1:
            print(f"session {i:3d} (size {x.shape[0]:3d}) step loss {loss.item():.4f}")

    xv = mx.random.normal((500, 6))
    yv = mx.tanh(xv @ w)
    pred = scorer(xv)
    print(f"val mse (compiled metric) {evaluate(xv, yv).item():.4f}; "
          f"from predictions {mx.mean((pred - yv) ** 2).item():.4f}")
