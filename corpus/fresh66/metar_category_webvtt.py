"""Aviation flight-category classifier (VFR/MVFR/IFR/LIFR) from synthetic surface
observations. Compiled step with dropout, label smoothing and grad-norm clipping.
The whole log is a WebVTT subtitle track."""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
CATS = ["VFR", "MVFR", "IFR", "LIFR"]


def observe(n):
    hour = rng.integers(0, 24, n)
    temp = rng.normal(12, 8, n)
    spread = np.abs(rng.gamma(1.6, 2.2, n))            # temp - dewpoint
    wind = np.abs(rng.normal(8, 6, n))                  # knots
    ptrend = rng.normal(0, 1.5, n)                      # hPa / 3h
    precip = (rng.random(n) < 0.25).astype(np.float64)
    night = np.cos(2 * np.pi * (hour - 5) / 24)         # ~1 near dawn
    # latent "murk": fog when saturated, calm and near dawn; rain lowers ceilings
    murk = (2.2 * np.exp(-spread / 1.5) + 0.6 * night * (wind < 6) + 0.9 * precip
            - 0.25 * ptrend - 0.03 * wind + rng.normal(0, 0.35, n))
    cat = np.digitize(murk, [0.7, 1.4, 2.1])            # 0..3
    feats = np.stack([temp / 10, np.log1p(spread), wind / 10, ptrend / 2, precip,
                      np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24)], 1)
    return feats.astype(np.float32), cat.astype(np.int32)


Xtr, ytr = observe(9000)
Xva, yva = observe(2000)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
counts = np.bincount(np.array(ytr), minlength=4)


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.ln1 = nn.LayerNorm(64)
        self.l2 = nn.Linear(64, 64)
        self.ln2 = nn.LayerNorm(64)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        h = self.drop(nn.gelu(self.ln1(self.l1(x))))
        h = self.drop(nn.gelu(self.ln2(self.l2(h)))) + h
        return self.head(h)


mx.random.seed(7)
model = Forecaster()
opt = optim.Adamax(learning_rate=4e-3)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, label_smoothing=0.1, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(xb, yb):
    loss, grads = vg(model, xb, yb)
    grads, gnorm = optim.clip_grad_norm(grads, max_norm=1.0)
    opt.update(model, grads)
    return loss, gnorm


def stamp(sec):
    h, r = divmod(sec, 3600)
    m, s = divmod(r, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def evaluate():
    model.eval()
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, yva, reduction="mean")
    pred = mx.argmax(logits, axis=-1)
    acc = mx.mean(pred == yva)
    model.train()
    return ce.item(), acc.item(), np.array(pred)


cue = 0
def cue_out(text):
    global cue
    cue += 1
    print(f"{cue}\n{stamp(cue - 1)} --> {stamp(cue)}\n{text}\n")


print("WEBVTT - flight category trainer\n")
model.train()
_, g0 = vg(model, Xtr[:256], ytr[:256])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
prior = counts / counts.sum()
print(f"NOTE train={Xtr.shape[0]} valid={Xva.shape[0]} class_share="
      f"{' '.join(f'{c}:{p:.2f}' for c, p in zip(CATS, prior))}\n")
ce0, acc0, _ = evaluate()
cue_out(f"<v gradcheck>leaves {len(leaves)}, zero-gradient leaves {zero}\n"
        f"<v init>valid CE {ce0:.3f} (chance {math.log(4):.3f}), valid acc {acc0:.3f}, "
        f"majority acc {prior.max():.3f}")

B, EPOCHS = 64, 14
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    run, nb, gmax = 0.0, 0, 0.0
    for i in range(0, Xtr.shape[0] - B + 1, B):
        idx = perm[i:i + B]
        loss, gn = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss, gn)
        run += loss.item(); nb += 1; gmax = max(gmax, gn.item())
    ce, acc, _ = evaluate()
    cue_out(f"<v epoch {ep:02d}>train CE(smoothed) {run / nb:.3f} | valid CE {ce:.3f} | "
            f"valid acc {acc:.3f} | max grad-norm {gmax:.2f} | {time.time() - t0:.1f}s")

_, acc, pred = evaluate()
yv = np.array(yva)
per = " ".join(f"{c}:{(pred[yv == k] == k).mean():.2f}" for k, c in enumerate(CATS))
cue_out(f"<v summary>per-category recall {per}\nfinal valid acc {acc:.3f}")
