"""Next-stop model for a 24-floor office lift, reported in bits per stop.

Floor vectors are a fixed sinusoidal code (period 12 floors, plus a per-floor
height offset), frozen on purpose; the context MLP and the output layer train.
SGDR (cosine warm restarts) makes the training loss jump at every restart.
"""
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_FLOOR, CTX = 24, 4            # 24 floors, 4 previous stops

# made-up traffic: the lift serves 14 floors in use (others are plant rooms),
# mostly hops to a neighbouring served floor, sometimes an express run;
# every 8th trip it returns to the lobby (0) or the canteen (12)
SERVED = [0, 2, 4, 5, 7, 9, 11, 12, 14, 16, 17, 19, 21, 23]
def shift(n):
    i = rng.integers(0, 7)
    out = []
    for t in range(n):
        out.append(SERVED[i])
        if t % 8 == 7:
            i = 0 if rng.random() < 0.5 else 7
        else:
            r = rng.random()
            step = rng.choice([-1, 1]) if r < 0.7 else (rng.choice([-2, 2, -4, 4]) if r < 0.92 else 0)
            i = int(np.clip(i + step, 0, len(SERVED) - 1))
    return out

def windows(trips):
    X, Y = [], []
    for s in trips:
        for t in range(CTX, len(s)):
            X.append(s[t - CTX:t]); Y.append(s[t])
    return np.array(X, np.int32), np.array(Y, np.int32)

Xtr, Ytr = windows([shift(64) for _ in range(400)])
Xva, Yva = windows([shift(64) for _ in range(80)])
Xtr, Ytr, Xva, Yva = map(mx.array, (Xtr, Ytr, Xva, Yva))

def floor_code(n_floor, dim=12):
    p = np.arange(n_floor)[:, None]
    k = np.arange(dim // 2)[None, :]
    ang = 2 * np.pi * p * (k + 1) / 12.0
    height = 0.5 * (p / n_floor).astype(np.float32)          # separates floor k and k+12
    return np.concatenate([np.sin(ang), np.cos(ang)], 1).astype(np.float32) + height

class NextStop(nn.Module):
    def __init__(self):
        super().__init__()
        self.floor = nn.Embedding(N_FLOOR, 12)
        self.floor.weight = mx.array(floor_code(N_FLOOR))
        self.hidden = nn.Linear(CTX * 12, 96)
        self.out = nn.Linear(96, N_FLOOR)
    def __call__(self, x):
        h = self.floor(x).reshape(x.shape[0], -1)
        return self.out(nn.gelu(self.hidden(h)))

model = NextStop()
model.floor.freeze()
mx.eval(model.parameters())
frozen0 = np.array(model.floor.weight)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

BS, EPOCHS = 64, 12
steps_per_epoch = Xtr.shape[0] // BS
cycle = 3 * steps_per_epoch           # restart every 3 epochs
def sgdr(step):
    t = step % cycle
    return 1e-4 + 0.5 * (3e-3 - 1e-4) * (1 + mx.cos(math.pi * t / cycle))
opt = optim.Adam(learning_rate=sgdr)
vg = nn.value_and_grad(model, loss_fn)

def log(**kw):
    print(json.dumps(kw), flush=True)

LN2 = math.log(2)
log(event="data", train_stops=int(Xtr.shape[0]), valid_stops=int(Xva.shape[0]),
    uniform_bits=round(math.log2(N_FLOOR), 3))
_, g0 = vg(model, Xtr[:BS], Ytr[:BS])
from mlx.utils import tree_flatten
leaves = tree_flatten(g0)
log(event="grad_check", trainable_leaves=len(leaves),
    nonzero=sum(int(mx.any(v != 0).item()) for _, v in leaves),
    names=[k for k, _ in leaves])

t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    va = loss_fn(model, Xva, Yva).item()
    acc = mx.mean(mx.argmax(model(Xva), 1) == Yva).item()
    log(epoch=ep, lr_end=round(opt.learning_rate.item(), 6),
        restart=(ep % 3 == 1 and ep > 1),
        train_bits_per_stop=round(tot / steps_per_epoch / LN2, 4),
        valid_bits_per_stop=round(va / LN2, 4), valid_top1=round(acc, 4),
        secs=round(time.time() - t0, 1))
drift = float(np.abs(np.array(model.floor.weight) - frozen0).max())
log(event="done", frozen_floor_code_max_change=drift)
