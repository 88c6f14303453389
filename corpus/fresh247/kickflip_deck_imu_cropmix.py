"""Skateboard trick recognition from a deck-mounted IMU.

Five tricks (ollie, kickflip, heelflip, pop shove-it, manual) recorded as
variable-length 6-channel IMU traces (3 gyro + 3 accel, 40..90 samples).
Training uses random 32-sample crops around the pop, random gain and a
mixup of two crops with soft targets; evaluation uses the centre crop.
Warm-up from lr 0, then cosine with one warm restart. A checkpoint is written
half-way, a fresh model and optimizer are rebuilt from it, and training goes on.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
TRICKS = ["ollie", "kickflip", "heelflip", "pop_shove_it", "manual"]
CROP = 32


def make_ride(trick):
    n = int(rng.integers(40, 91))
    t = np.arange(n, dtype=np.float32)
    pop = int(rng.integers(16, n - 16))
    env = np.exp(-0.5 * ((t - pop) / rng.uniform(2.5, 4.0)) ** 2)
    x = 0.9 * rng.standard_normal((n, 6)).astype(np.float32)
    x[:, 5] += 1.0  # gravity on the deck normal
    if trick == 4:  # manual: long slow nose-up pitch, no pop
        x[:, 1] += 1.2 * np.exp(-0.5 * ((t - pop) / 9.0) ** 2)
    else:
        x[:, 5] += 2.5 * env  # pop spike
        x[:, 1] += 1.5 * np.roll(env, 2)  # tail-down / nose-up pitch
        if trick == 1:
            x[:, 0] += 3.0 * np.roll(env, 4)  # roll one way
        elif trick == 2:
            x[:, 0] -= 3.0 * np.roll(env, 4)  # roll the other way
        elif trick == 3:
            x[:, 2] += 3.0 * np.roll(env, 4)  # yaw spin
    x *= rng.uniform(0.8, 1.2)
    return x, pop


def build(n):
    ys = rng.integers(0, 5, size=n)
    rides = [make_ride(int(y)) for y in ys]
    return rides, ys


train_rides, train_y = build(1500)
valid_rides, valid_y = build(500)


def crop(ride, pop, random):
    n = ride.shape[0]
    if random:
        start = pop - CROP // 2 + int(rng.integers(-6, 7))
    else:
        start = pop - CROP // 2
    start = int(np.clip(start, 0, n - CROP))
    return ride[start : start + CROP]


def train_batches(bs):
    order = rng.permutation(len(train_rides))
    for i in range(0, len(order) - bs + 1, bs):
        idx = order[i : i + bs]
        x = np.stack([crop(*train_rides[k], random=True) for k in idx])
        x = x * rng.uniform(0.85, 1.15, size=(bs, 1, 6)).astype(np.float32)
        y = np.eye(5, dtype=np.float32)[train_y[idx]]
        lam = rng.beta(0.4, 0.4, size=(bs, 1)).astype(np.float32)
        perm = rng.permutation(bs)
        x = lam[:, :, None] * x + (1 - lam[:, :, None]) * x[perm]
        y = lam * y + (1 - lam) * y[perm]
        yield mx.array(x), mx.array(y)


valid_x = mx.array(np.stack([crop(r, p, random=False) for r, p in valid_rides]))
valid_t = mx.array(valid_y)


class DeckNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(6, 24, 5, padding=2)
        self.c2 = nn.Conv1d(24, 48, 5, padding=2, stride=2)
        self.c3 = nn.Conv1d(48, 48, 3, padding=1)
        self.out = nn.Linear(96, 5)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        h = nn.relu(self.c3(h))
        return self.out(mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1))


def soft_ce(model, x, y):
    logits = model(x)
    return -(y * nn.log_softmax(logits, axis=-1)).sum(axis=-1).mean()


BS, EPOCHS = 50, 12
STEPS = len(train_rides) // BS
warm = optim.linear_schedule(0.0, 3e-3, STEPS)  # step 0 runs at lr exactly 0
cyc1 = optim.cosine_decay(3e-3, 4 * STEPS, 1e-4)
cyc2 = optim.cosine_decay(1.5e-3, 7 * STEPS, 5e-5)  # warm restart at epoch 6
schedule = optim.join_schedules([warm, cyc1, cyc2], [STEPS, 5 * STEPS])


def make_state():
    m = DeckNet()
    mx.eval(m.parameters())
    o = optim.Adam(learning_rate=schedule)
    return m, o


def evaluate(model):
    logits = model(valid_x)
    ce = nn.losses.cross_entropy(logits, valid_t, reduction="mean").item()
    acc = (mx.argmax(logits, axis=-1) == valid_t).mean().item()
    return ce, acc


majority = np.bincount(valid_y, minlength=5).max() / len(valid_y)
model, opt = make_state()
ckdir = tempfile.mkdtemp(prefix="deck_ck_")
print("epoch,lr,train_mixed_ce,valid_ce,valid_acc,majority_acc,secs")
tic = time.perf_counter()
for epoch in range(1, EPOCHS + 1):
    lg = nn.value_and_grad(model, soft_ce)
    tot = 0.0
    for x, y in train_batches(BS):
        loss, g = lg(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        tot += loss.item()
    if epoch == 6:
        model.save_weights(os.path.join(ckdir, "deck.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"),
                            dict(tree_flatten(opt.state)))
        model, opt = make_state()
        model.load_weights(os.path.join(ckdir, "deck.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        print(f"# resumed from {ckdir} at step {opt.step.item()}")
    if epoch in (3, 4):
        continue  # quiet stretch: no report these epochs
    vce, vacc = evaluate(model)
    lr = opt.learning_rate.item()
    print(f"{epoch},{lr:.6f},{tot / STEPS:.4f},{vce:.4f},{vacc:.4f},{majority:.4f},"
          f"{time.perf_counter() - tic:.1f}")

vce, vacc = evaluate(model)
per = []
logits = np.array(mx.argmax(model(valid_x), axis=-1))
for k, name in enumerate(TRICKS):
    sel = valid_y == k
    per.append(f"{name}={np.mean(logits[sel] == k):.3f}")
print("# per-trick recall: " + " ".join(per))
print(f"# final valid_acc={vacc:.4f} valid_ce={vce:.4f} majority={majority:.4f}")
