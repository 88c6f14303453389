# bungee operator: pick one of five cord ratings for each jumper so the jump
# bottoms out near 85% of the safe depth.  Feedback is a noisy thrill score;
# too deep (>95%) is scored as a safety incident.  Policy gradient with a learned
# baseline, one compiled step, early stopping on a fixed panel of jumpers.
import json
import math
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(11)
rng = np.random.default_rng(11)

CORD_C = mx.array([0.15, 0.25, 0.35, 0.45, 0.55])   # cord softness coefficient
N_CORDS = 5


def draw_jumpers(n):
    mass = rng.uniform(48, 115, n)       # kg
    height = rng.uniform(40, 85, n)      # m platform
    wind = rng.normal(0, 1, n)           # m/s gust, irrelevant to depth here
    temp = rng.uniform(-2, 30, n)        # C, irrelevant
    feats = np.stack([(mass - 81) / 19, (height - 62) / 13, wind, (temp - 14) / 9], 1)
    return (mx.array(feats.astype(np.float32)), mx.array(mass.astype(np.float32)),
            mx.array(height.astype(np.float32)))


def depth_fraction(cord, mass, height):
    return 0.45 + CORD_C[cord] * (mass / 80.0) * mx.sqrt(60.0 / height)


def expected_score(cord, mass, height):
    f = depth_fraction(cord, mass, height)
    return mx.where(f > 0.95, -2.0, 1.0 - 25.0 * (f - 0.85) ** 2)


class Operator(nn.Module):
    def __init__(self):
        super().__init__()
        self.pi = nn.Sequential(nn.Linear(4, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, N_CORDS))
        self.v = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.pi(x), self.v(x).squeeze(-1)


model = Operator()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=2e-3)
ENT = 0.01


def pg_loss(model, x, mass, height):
    logits, v = model(x)
    a = mx.stop_gradient(mx.random.categorical(logits))
    r = expected_score(a, mass, height) + 0.3 * mx.random.normal(a.shape)
    logp = nn.log_softmax(logits, axis=-1)
    lp_a = mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(r - v)
    ent = -(mx.exp(logp) * logp).sum(-1).mean()
    loss = -(lp_a * adv).mean() + 0.5 * ((v - r) ** 2).mean() - ENT * ent
    return loss, (r.mean(), ent)


state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, mass, height):
    (loss, (rbar, ent)), grads = nn.value_and_grad(model, pg_loss)(model, x, mass, height)
    opt.update(model, grads)
    return loss, rbar, ent


# fixed evaluation panel and its two reference points
xp, mp, hp = draw_jumpers(1024)
all_scores = mx.stack([expected_score(mx.full((1024,), c, mx.int32), mp, hp) for c in range(N_CORDS)], 1)
ORACLE = all_scores.max(axis=1).mean().item()
RANDOM = all_scores.mean().item()


def panel():
    logits, _ = model(xp)
    greedy = mx.argmax(logits, axis=-1)
    sc = mx.take_along_axis(all_scores, greedy[:, None], axis=-1).squeeze(-1)
    unsafe = (depth_fraction(greedy, mp, hp) > 0.95).astype(mx.float32).mean()
    return sc.mean().item(), 100 * unsafe.item()


EVAL_EVERY, PATIENCE, MAX_STEPS = 25, 8, 2500
best, best_at, bad = -1e9, 0, 0
best_w = None
g0, u0 = panel()
print(json.dumps({"step": 0, "thrill_panel": round(g0, 4), "ref_random": round(RANDOM, 4), "ref_oracle": round(ORACLE, 4),
                  "unsafe_pct": round(u0, 2)}))
t0 = time.perf_counter()
rb_acc, n_acc = 0.0, 0
for step in range(1, MAX_STEPS + 1):
    x, m, h = draw_jumpers(96)
    loss, rbar, ent = train_step(x, m, h)
    mx.eval(model.parameters(), opt.state, loss, rbar, ent)
    rb_acc += rbar.item()
    n_acc += 1
    if step % EVAL_EVERY == 0:
        g, unsafe = panel()
        if g > best + 1e-4:
            best, best_at, bad = g, step, 0
            best_w = dict(tree_flatten(model.parameters()))
        else:
            bad += 1
        print(json.dumps({"step": step, "loss": round(loss.item(), 4), "thrill_train": round(rb_acc / n_acc, 4),
                          "thrill_panel": round(g, 4), "ref_random": round(RANDOM, 4), "ref_oracle": round(ORACLE, 4),
                          "unsafe_pct": round(unsafe, 2), "entropy": round(ent.item(), 3), "since_best": bad}))
        rb_acc, n_acc = 0.0, 0
        if bad >= PATIENCE:
            print(json.dumps({"event": "early_stop", "step": step, "best_step": best_at}))
            break

model.update(tree_unflatten(list(best_w.items())))
mx.eval(model.parameters())
g, unsafe = panel()
gap = 100 * (ORACLE - g) / (ORACLE - RANDOM)
print(json.dumps({"event": "restored", "from_step": best_at, "thrill_panel": round(g, 4), "unsafe_pct": round(unsafe, 2),
                  "gap_to_oracle_pct": round(gap, 2), "secs": round(time.perf_counter() - t0, 1)}))
sys.stdout.flush()
