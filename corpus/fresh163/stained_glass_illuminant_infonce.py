# Stained-glass restoration: match each shard's transmittance spectrum measured
# under daylight to the same shard measured under a tungsten lamp (two views).
# Two small towers, symmetric InfoNCE, temperature annealed 0.5 -> 0.08.
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(163)
mx.random.seed(163)
NB = 36                       # spectral bins 400..750 nm
wl = np.linspace(400, 750, NB)

def make_shards(n):
    # each shard: mixture of 3 broad absorption bands (metal oxides) + thickness
    centers = rng.uniform(420, 730, (n, 3))
    widths = rng.uniform(25, 70, (n, 3))
    depth = rng.uniform(0.2, 1.6, (n, 3))
    thick = rng.uniform(0.6, 1.4, (n, 1))
    absorb = (depth[:, :, None] * np.exp(-0.5 * ((wl[None, None, :] - centers[:, :, None]) / widths[:, :, None]) ** 2)).sum(1)
    return np.exp(-thick * absorb)            # transmittance 0..1

def view(T, lamp):
    # lamp spectrum, sensor gain, dust scatter and noise
    if lamp == "day":
        L = 1.0 + 0.15 * np.sin((wl - 400) / 350 * math.pi)
    else:
        L = np.exp((wl - 750) / 220)          # tungsten: red heavy
    gain = rng.uniform(0.7, 1.3, (T.shape[0], 1))
    dust = rng.uniform(0.0, 0.08, (T.shape[0], 1))
    x = gain * (T * L[None] + dust) + rng.normal(0, 0.03, T.shape)
    x = np.log(np.clip(x, 1e-3, None))
    return ((x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-6)).astype(np.float32)

train_T, val_T = make_shards(2048), make_shards(256)
val_day, val_tung = mx.array(view(val_T, "day")), mx.array(view(val_T, "tung"))

class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(NB, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(), nn.Linear(128, 32))
    def __call__(self, x):
        z = self.net(x)
        return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-8)

class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.day = Tower()
        self.tung = Tower()

model = Pair()
mx.eval(model.parameters())

EPOCHS, BS = 14, 128
steps_per_epoch = train_T.shape[0] // BS
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                              optim.cosine_decay(2e-3, total - warm, 1e-5)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

def info_nce(m, a, b, tau):
    za, zb = m.day(a), m.tung(b)
    logits = (za @ zb.T) / tau
    lab = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, lab, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, lab, reduction="mean"))

loss_and_grad = nn.value_and_grad(model, info_nce)
state = [model.state, opt.state]

def step(a, b, tau):
    loss, g = loss_and_grad(model, a, b, tau)
    opt.update(model, g)
    return loss

step = mx.compile(step, inputs=state, outputs=state)

# gradient audit before training: every tower layer must receive signal
a0, b0 = mx.array(view(train_T[:BS], "day")), mx.array(view(train_T[:BS], "tung"))
_, g0 = loss_and_grad(model, a0, b0, mx.array(0.5))
from mlx.utils import tree_flatten
gn = {k: float(mx.abs(v).sum()) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "tensors": len(gn), "zero": [k for k, v in gn.items() if v == 0.0],
                  "min_abs_sum": round(min(gn.values()), 5)}))

def retrieval(m):
    za, zb = m.day(val_day), m.tung(val_tung)
    sim = za @ zb.T
    top1 = (mx.argmax(sim, axis=1) == mx.arange(sim.shape[0])).astype(mx.float32).mean()
    top5 = (mx.argsort(-sim, axis=1)[:, :5] == mx.arange(sim.shape[0])[:, None]).any(axis=1).astype(mx.float32).mean()
    return float(top1), float(top5)

t0 = time.time()
it = 0
for ep in range(EPOCHS):
    tau = 0.5 * (0.08 / 0.5) ** (ep / (EPOCHS - 1))   # sharper every epoch: loss may rise
    perm = rng.permutation(train_T.shape[0])
    day = view(train_T, "day"); tung = view(train_T, "tung")   # fresh noisy views each epoch
    run = 0.0
    for s in range(steps_per_epoch):
        idx = perm[s * BS:(s + 1) * BS]
        loss = step(mx.array(day[idx]), mx.array(tung[idx]), mx.array(tau, dtype=mx.float32))
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item(); it += 1
    t1, t5 = retrieval(model)
    print(json.dumps({"ep": ep, "it": it, "lr": round(float(opt.learning_rate), 6), "tau": round(tau, 4),
                      "nce": round(run / steps_per_epoch, 4), "log_bs": round(math.log(BS), 4),
                      "top1_pct": round(100 * t1, 1), "top5_pct": round(100 * t5, 1),
                      "chance_top1_pct": round(100 / val_T.shape[0], 2)}))
print(json.dumps({"event": "done", "sec": round(time.time() - t0, 1), "final_top1_pct": round(100 * t1, 1)}))
