# Tangram puzzle-book matcher: contrastive (NT-Xent) embeddings of 6x6 tangram silhouette
# photos that must not care how the card was turned or flipped. Two stages: clean scanner
# photos, then harder phone photos (more noise, dropped pixels). Compiled step, JSON lines out.
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1842)
BLOCKS = ["cat", "swan", "runner", "house", "boat", "rabbit", "candle", "fox", "bridge", "kneeling_man"]
TPL = (rng.random((len(BLOCKS), 6, 6)) > 0.5).astype(np.float32)


def make_blocks(n):
    lab = rng.integers(0, len(BLOCKS), n)
    card = TPL[lab] + rng.normal(0, 0.12, (n, 6, 6)).astype(np.float32)
    return card, lab


def view(b, noise, drop):
    out = np.empty_like(b)
    for i in range(len(b)):
        v = np.rot90(b[i], rng.integers(0, 4))
        if rng.random() < 0.5:
            v = v[:, ::-1]
        out[i] = v
    out = out * rng.uniform(0.7, 1.3, (len(b), 1, 1)) + rng.uniform(-0.2, 0.2, (len(b), 1, 1))
    out = out + rng.normal(0, noise, out.shape)
    out = out * (rng.random(out.shape) > drop)
    return out.reshape(len(b), 36).astype(np.float32)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(36, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                                  nn.Linear(128, 32))

    def __call__(self, x):
        z = self.body(x)
        return z / mx.sqrt(mx.sum(z * z, axis=1, keepdims=True) + 1e-8)


TAU = 0.2


def ntxent(model, a, b):
    z = model(mx.concatenate([a, b], 0))
    n = a.shape[0]
    sim = (z @ z.T) / TAU
    sim = sim - 1e9 * mx.eye(2 * n)
    target = mx.concatenate([mx.arange(n, 2 * n), mx.arange(0, n)])
    return mx.mean(nn.losses.cross_entropy(sim, target))


mx.random.seed(7)
model = Encoder()
opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=1e-4)
vg = nn.value_and_grad(model, ntxent)

b0, _ = make_blocks(64)
_, g0 = vg(model, mx.array(view(b0, 0.1, 0.0)), mx.array(view(b0, 0.1, 0.0)))
print(json.dumps({"audit": "grad", "tensors": len(tree_flatten(g0)),
                  "min_abs_sum": round(min(float(mx.abs(v).sum()) for _, v in tree_flatten(g0)), 5)}))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(a, b):
    loss, grads = vg(model, a, b)
    opt.update(model, grads)
    return loss


# held-out gallery (labelled reference photos) and queries for nearest-centroid matching
ref_b, ref_l = make_blocks(600)
qry_b, qry_l = make_blocks(1000)


def evaluate(noise, drop):
    R, Q = view(ref_b, noise, drop), view(qry_b, noise, drop)
    out = {}
    for tag, fr, fq in (("emb", lambda x: np.array(model(mx.array(x))), lambda x: np.array(model(mx.array(x)))),
                        ("raw_pixel", lambda x: x, lambda x: x)):
        er, eq = fr(R), fq(Q)
        cent = np.stack([er[ref_l == c].mean(0) for c in range(len(BLOCKS))])
        d = ((eq[:, None, :] - cent[None]) ** 2).sum(-1)
        out[tag] = float((d.argmin(1) == qry_l).mean())
    return out


t0 = time.time()
STAGES = [("scanner_photos", 0.10, 0.00, 500), ("phone_photos", 0.30, 0.15, 500)]
for sname, noise, drop, n_steps in STAGES:
    acc = evaluate(noise, drop)
    print(json.dumps({"stage": sname, "step": 0, "nc_acc": round(acc["emb"], 4),
                      "raw_pixel_nc_acc": round(acc["raw_pixel"], 4)}))
    run, cnt = 0.0, 0
    for s in range(1, n_steps + 1):
        blk, _ = make_blocks(128)
        loss = step(mx.array(view(blk, noise, drop)), mx.array(view(blk, noise, drop)))
        mx.eval(state, loss)
        run += loss.item()
        cnt += 1
        if s % 50 == 0:
            print(json.dumps({"stage": sname, "step": s, "ntxent": round(run / cnt, 4), "tau": TAU,
                              "lr": float(opt.learning_rate)}))
            run, cnt = 0.0, 0
    acc = evaluate(noise, drop)
    print(json.dumps({"stage": sname, "step": n_steps, "nc_acc": round(acc["emb"], 4),
                      "raw_pixel_nc_acc": round(acc["raw_pixel"], 4)}))
print(json.dumps({"done": True, "seconds": round(time.time() - t0, 1)}))
