"""County-show bread judging: order the 10 loaves of each heat the way the judges will.

Each loaf has 6 bench measurements (crumb density, crust colour, rise, moisture, oven
spring, scoring depth).  A small scorer is trained listwise by maximising a smooth
NDCG computed through a SoftSort relaxation of the permutation; the objective is the
NEGATIVE smooth NDCG, so it starts near -0.5 and heads towards -1.  The relaxation
temperature is annealed in three rounds (1.0, 0.3, 0.1); each round restarts its
step counter and its learning-rate warm-up from exactly zero.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

T0 = time.time()
rng = np.random.default_rng(3401)
F, N = 6, 10
w_true = np.array([0.9, -0.6, 1.1, -0.4, 0.7, 0.3])


def make_heats(n):
    x = rng.normal(size=(n, N, F)).astype(np.float32)
    judge = x @ w_true + 0.6 * np.sin(2.0 * x[..., 0]) * x[..., 2] - 0.5 * x[..., 1] ** 2
    judge = judge + 0.35 * rng.normal(size=(n, N))
    grade = np.zeros((n, N), dtype=np.float32)
    order = np.argsort(-judge, axis=1)
    for g, lo, hi in ((4, 0, 1), (3, 1, 2), (2, 2, 4), (1, 4, 6)):
        np.put_along_axis(grade, order[:, lo:hi], g, axis=1)
    return x, grade


xtr, gtr = make_heats(1500)
xte, gte = make_heats(300)
Xtr, Gtr, Xte = mx.array(xtr), mx.array(gtr), mx.array(xte)
DISC = mx.array(1.0 / np.log2(np.arange(2, N + 2)), dtype=mx.float32)


def hard_ndcg(scores, grades, k=5):
    order = np.argsort(-scores, axis=1)[:, :k]
    g = np.take_along_axis(grades, order, axis=1)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.sort(grades, axis=1)[:, ::-1][:, :k]
    return float(np.mean(((2 ** g - 1) * disc).sum(1) / ((2 ** ideal - 1) * disc).sum(1)))


class LoafScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(F, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def soft_ndcg(scores, grades, tau):
    ranked = -mx.sort(-scores, axis=-1)
    p_hat = mx.softmax(-mx.abs(ranked[..., :, None] - scores[..., None, :]) / tau, axis=-1)
    gains = 2.0 ** grades - 1.0
    dcg = ((p_hat @ gains[..., None]).squeeze(-1) * DISC).sum(-1)
    ideal = ((-mx.sort(-gains, axis=-1)) * DISC).sum(-1)
    return dcg / ideal


def objective(model, x, g, tau):
    return -soft_ndcg(model(x), g, tau).mean()


mx.random.seed(5)
model = LoafScorer()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, objective)

baseline_random = hard_ndcg(rng.normal(size=gte.shape), gte)
baseline_rise = hard_ndcg(xte[..., 2], gte)
print(f"heats train={len(xtr)} test={len(xte)} loaves/heat={N}  ndcg@5 random={baseline_random:.3f} rise-only={baseline_rise:.3f}")
print(f"untrained ndcg@5={hard_ndcg(np.array(model(Xte)), gte):.3f}")

loss0, g0 = vg(model, Xtr[:50], Gtr[:50], mx.array(1.0))
leaves = tree_flatten(g0)
print("grad-audit " + " ".join(f"{k}:{float(mx.linalg.norm(v.reshape(-1))):.3g}" for k, v in leaves))

ROUNDS = [(1.0, 500), (0.3, 500), (0.1, 700)]
BS, WARM = 50, 60
print(f"{'round':>5} {'tau':>4} {'step':>5} {'lr':>9} {'obj':>8} {'test_soft':>9} {'test_ndcg5%':>11} {'top1_hit%':>9}")
for r, (tau, steps) in enumerate(ROUNDS, 1):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, steps - WARM, 2e-4)], [WARM])
    opt = optim.Adam(learning_rate=sched)
    tau_a = mx.array(tau)
    window = []
    for step in range(steps):
        idx = mx.array(rng.integers(0, len(xtr), BS))
        lr_now = float(sched(step))
        loss, grads = vg(model, Xtr[idx], Gtr[idx], tau_a)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step in (0, 1) or (step + 1) % 100 == 0:
            s_te = model(Xte)
            test_soft = soft_ndcg(s_te, mx.array(gte), tau_a).mean().item()
            s_np = np.array(s_te)
            top1 = float(np.mean(gte[np.arange(len(gte)), np.argmax(s_np, 1)] == 4)) * 100
            print(f"{r:>5} {tau:>4.1f} {step:>5} {lr_now:>9.2e} {np.mean(window):>8.4f} {test_soft:>9.4f} "
                  f"{100 * hard_ndcg(s_np, gte):>11.2f} {top1:>9.1f}")
            window = []

final = hard_ndcg(np.array(model(Xte)), gte)
print(f"done ndcg@5={final:.3f} (random {baseline_random:.3f}, rise-only {baseline_rise:.3f}) secs={time.time() - T0:.1f}")
