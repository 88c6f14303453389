# Orienteering club: which route a runner takes on a leg (left loop, straight
# through the forest, right along the track) from seven map readings.
# Legs arrive two at a time from the event results, so the batch is 2 and the
# step size is kept small; the session is saved at half time and resumed.
import os
import tempfile
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(11)
CHOICES = ["left", "straight", "right"]

def legs(n):
    climb = rng.gamma(2.0, 20.0, n)           # metres of climb on the straight line
    green = rng.uniform(0, 1, n)              # share of slow vegetation
    track_detour = rng.uniform(0, 0.6, n)     # extra length along the track
    loop_detour = rng.uniform(0, 0.6, n)      # extra length round the left loop
    marsh = rng.uniform(0, 1, n)
    age = rng.uniform(12, 70, n)
    night = (rng.uniform(0, 1, n) < 0.2).astype(np.float64)
    x = np.stack([climb, green, track_detour, loop_detour, marsh, age, night], 1)
    cost_straight = 0.03 * climb + 2.5 * green + 1.5 * marsh + 1.2 * night
    cost_right = 6.0 * track_detour + 0.01 * (age - 40)
    cost_left = 6.0 * loop_detour + 0.8 * marsh
    logits = -np.stack([cost_left, cost_straight, cost_right], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=pi) for pi in p])
    return x, y

xtr, ytr = legs(40000)
xte, yte = legs(3000)
mu, sd = xtr.mean(0), xtr.std(0)
Xtr = mx.array(((xtr - mu) / sd).astype(np.float32)); Ytr = mx.array(ytr)
Xte = mx.array(((xte - mu) / sd).astype(np.float32)); Yte = mx.array(yte)


class RouteNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 3)

    def __call__(self, x):
        return self.head(self.body(x))


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def build(lr):
    m = RouteNet()
    m.update(tree_map(lambda p: p * 0.15, m.parameters()))
    o = optim.SGD(learning_rate=lr)
    state = [m.state, o.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, g = nn.value_and_grad(m, ce)(m, x, y)
        o.update(m, g)
        return loss

    return m, o, train_step


def held(m):
    logits = m(Xte)
    loss = nn.losses.cross_entropy(logits, Yte, reduction="mean").item()
    hit = (mx.argmax(logits, 1) == Yte).mean().item() * 100
    return loss, hit


def report(m, i, total, window):
    hl, hit = held(m)
    print(f"leg-pairs {i:05d}/{total} | run ce {np.mean(window):.4f} | held ce {hl:.4f} "
          f"| picks right {hit:5.1f}% | uniform ce {np.log(3):.4f}")


LR, BATCH, PAIRS = 0.004, 2, 20000
mx.random.seed(5)
model, opt, train_step = build(LR)
prior = np.bincount(ytr, minlength=3) / len(ytr)
print(f"routes taken: " + ", ".join(f"{c} {p * 100:.1f}%" for c, p in zip(CHOICES, prior)))
print(f"class-prior ce {-(prior * np.log(prior)).sum():.4f}   batch {BATCH}   sgd lr {LR}")
hl, hit = held(model)
print(f"before training: held ce {hl:.4f}, picks right {hit:.1f}%")

ckdir = tempfile.mkdtemp()
t0 = time.time()
perm = mx.array(rng.permutation(Xtr.shape[0]).astype(np.int32))
window = []
half = PAIRS // 2
for i in range(PAIRS):
    if i == half:
        path = os.path.join(ckdir, "half_time.safetensors")
        model.save_weights(path)
        print(f"-- half time: saved {path.split(os.sep)[-1]}, restarting the session")
        del model, opt, train_step
        model, opt, train_step = build(LR)
        model.load_weights(path)
        mx.eval(model.parameters())
        hl, _ = held(model)
        print(f"-- resumed at pair {i}, held ce after reload {hl:.4f}")
    k = (i * BATCH) % Xtr.shape[0]
    idx = perm[k:k + BATCH]
    loss = train_step(Xtr[idx], Ytr[idx])
    mx.eval(loss, model.state, opt.state)
    window.append(loss.item())
    if (i + 1) % 2500 == 0:
        report(model, i + 1, PAIRS, window)
        window = []
print(f"finished {PAIRS} pairs ({PAIRS * BATCH} legs) in {time.time() - t0:.1f}s")
