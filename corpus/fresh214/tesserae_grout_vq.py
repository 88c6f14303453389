"""Vector-quantised autoencoder for mosaic tesserae patches.

Straight-through quantiser written as a custom VJP; LR warms up from 0;
early stopping on validation PSNR with restore of the best weights.
One JSON object per evaluation.
"""
import json
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(11)
mx.random.seed(11)

P = 6            # patch side
D_IN = P * P * 3
N_CODES, D_LAT = 24, 6
PALETTE = [(random.random(), random.random(), random.random()) for _ in range(10)]


def make_patch():
    c = PALETTE[random.randrange(len(PALETTE))]
    grout = random.random() < 0.5
    px = []
    for i in range(P):
        for j in range(P):
            edge = grout and (i == 0 or j == 0)
            for ch in range(3):
                v = 0.35 if edge else c[ch]
                px.append(v + random.gauss(0, 0.03))
    return px


train = mx.array([make_patch() for _ in range(1200)])
val = mx.array([make_patch() for _ in range(200)])


@mx.custom_function
def snap(z, q):
    return q


@snap.vjp
def snap_vjp(primals, cotangent, output):
    # straight-through: the code's gradient goes to the encoder output
    return cotangent, mx.zeros_like(primals[1])


class TesseraVQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D_IN, 64), nn.GELU(), nn.Linear(64, D_LAT))
        self.codebook = nn.Embedding(N_CODES, D_LAT)
        self.dec = nn.Sequential(nn.Linear(D_LAT, 64), nn.GELU(), nn.Linear(64, D_IN))

    def quantise(self, z):
        cb = self.codebook.weight
        d = (z * z).sum(-1, keepdims=True) - 2 * z @ cb.T + (cb * cb).sum(-1)
        idx = mx.stop_gradient(mx.argmin(d, axis=-1))
        return self.codebook(idx), idx

    def __call__(self, x):
        z = self.enc(x)
        q, idx = self.quantise(z)
        return self.dec(snap(z, q)), z, q, idx


def losses(model, x):
    xh, z, q, _ = model(x)
    recon = mx.mean((xh - x) ** 2)
    book = mx.mean((q - mx.stop_gradient(z)) ** 2)
    commit = mx.mean((z - mx.stop_gradient(q)) ** 2)
    return recon + book + 0.25 * commit, (recon, book, commit)


model = TesseraVQ()
mx.eval(model.parameters())
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 60), optim.cosine_decay(3e-3, 900, 1e-4)], [60])
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, losses)


def evaluate(x):
    xh, _, _, idx = model(x)
    mse = mx.mean((xh - x) ** 2).item()
    used = len(set(idx.tolist()))
    return mse, used


best_psnr, best_params, bad, patience = -1.0, None, 0, 4
B, step, t0 = 48, 0, time.time()
for epoch in range(1, 41):
    perm = mx.random.permutation(train.shape[0])
    for s in range(0, train.shape[0] - B + 1, B):
        (tot, (rec, bk, cm)), g = vg(model, train[perm[s:s + B]])
        if step == 1:
            norms = {k: round(mx.linalg.norm(v).item(), 5) for k, v in tree_flatten(g)
                     if k.endswith("weight")}
            print(json.dumps({"audit": "grad_norms", **norms}))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, tot)
        step += 1
    mse, used = evaluate(val)
    psnr = 10 * math.log10(1.0 / mse)
    rec_d = {"epoch": epoch, "step": step, "lr": round(float(opt.learning_rate.item()), 6),
             "recon": round(rec.item(), 5), "book": round(bk.item(), 5),
             "commit": round(cm.item(), 5), "val_psnr_db": round(psnr, 2),
             "codes_used_pct": round(100 * used / N_CODES, 1)}
    print(json.dumps(rec_d))
    if psnr > best_psnr + 0.05:
        best_psnr, bad = psnr, 0
        best_params = tree_map(lambda a: a, model.parameters())
    else:
        bad += 1
        if bad >= patience:
            print(json.dumps({"event": "early_stop", "epoch": epoch, "best_val_psnr_db": round(best_psnr, 2)}))
            break

model.update(best_params)
mx.eval(model.parameters())
mse, used = evaluate(val)
print(json.dumps({"event": "restored", "val_psnr_db": round(10 * math.log10(1.0 / mse), 2),
                  "codes_used": used, "seconds": round(time.time() - t0, 1)}))
