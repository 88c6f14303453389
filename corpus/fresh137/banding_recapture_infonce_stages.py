"""Bird-banding station: re-identify recaptured birds whose ring could not be
read, by matching two capture records (wing, tarsus, bill, head, mass, fat
score, moult score) of the same bird. Contrastive (InfoNCE) training of an
encoder; a fixed observer-calibration layer in front is frozen on purpose.

Two stages with their own step counters: first mixed-species batches (easy
negatives), then single-species batches (hard negatives, the loss jumps up).
"""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s ringing| %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("ringing")

rng = np.random.default_rng(44)
N_SPECIES = 6
SPECIES_MEAN = rng.normal(0.0, 3.0, (N_SPECIES, 5))


def make_birds(n):
    sp = rng.integers(0, N_SPECIES, n)
    body = SPECIES_MEAN[sp] + rng.normal(0.0, 1.0, (n, 5))     # wing tarsus bill head mass
    fat = rng.uniform(0, 5, n)
    moult = rng.uniform(0, 5, n)

    def capture():
        c = body + rng.normal(0.0, 0.7, body.shape)             # observer error
        c[:, 4] += rng.normal(0.0, 1.2, n)                       # mass varies by day
        f = np.clip(fat + rng.normal(0.0, 0.8, n), 0, 5)
        m = np.clip(moult + rng.normal(0.3, 0.4, n), 0, 5)
        return np.concatenate([c, f[:, None], m[:, None]], axis=1).astype(np.float32)

    return sp, capture(), capture()


sp_tr, A_tr, B_tr = make_birds(12000)
sp_te, A_te, B_te = make_birds(600)
mu = A_tr.mean(0)
sd = A_tr.std(0) + 1e-6
A_tr, B_tr = (A_tr - mu) / sd, (B_tr - mu) / sd
A_te, B_te = (A_te - mu) / sd, (B_te - mu) / sd


@mx.custom_function
def unit_norm(x):
    return x / mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-12)


@unit_norm.vjp
def unit_norm_vjp(primals, cotangent, output):
    x = primals
    r = mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-12)
    y = output
    return (cotangent - y * mx.sum(cotangent * y, axis=-1, keepdims=True)) / r


class RecaptureEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.calib = nn.Linear(7, 7)       # station's observer calibration, kept fixed
        self.h1 = nn.Linear(7, 64)
        self.h2 = nn.Linear(64, 64)
        self.emb = nn.Linear(64, 24)

    def __call__(self, x):
        x = self.calib(x)
        x = nn.gelu(self.h1(x))
        x = nn.gelu(self.h2(x))
        return unit_norm(self.emb(x))


mx.random.seed(8)
model = RecaptureEncoder()
model.calib.weight = mx.eye(7) + 0.05 * mx.random.normal((7, 7))
model.calib.bias = mx.zeros((7,))
model.calib.freeze()
mx.eval(model.parameters())
TAU = 0.1


def nce_loss(m, a, b):
    za, zb = m(a), m(b)
    logits = (za @ zb.T) / TAU
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


# audit the hand-written VJP against autodiff of the plain formula
xa = mx.random.normal((5, 24))
ct = mx.random.normal((5, 24))
_, (g_custom,) = mx.vjp(unit_norm, [xa], [ct])
_, (g_auto,) = mx.vjp(lambda v: v / mx.sqrt(mx.sum(v * v, -1, keepdims=True) + 1e-12), [xa], [ct])
log.info("audit vjp(unit_norm) max|custom-auto| = %.2e", float(mx.max(mx.abs(g_custom - g_auto))))

opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, nce_loss)

_, g0 = loss_and_grad(model, mx.array(A_tr[:64]), mx.array(B_tr[:64]))
gn = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
log.info("audit trainable tensors=%d (calib frozen: %s) min|grad|=%.4f",
         len(gn), "calib.weight" not in gn, min(gn.values()))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(a, b):
    loss, grads = loss_and_grad(model, a, b)
    opt.update(model, grads)
    return loss


def batch(species_mode, size=64):
    if species_mode == "mixed":
        idx = rng.choice(len(sp_tr), size, replace=False)
    else:
        s = rng.integers(0, N_SPECIES)
        pool = np.flatnonzero(sp_tr == s)
        idx = rng.choice(pool, size, replace=False)
    return mx.array(A_tr[idx]), mx.array(B_tr[idx])


def match_acc(within_species, size=64, trials=20):
    er = np.random.default_rng(7)
    hits = tot = 0
    for _ in range(trials):
        if within_species:
            s = er.integers(0, N_SPECIES)
            idx = er.choice(np.flatnonzero(sp_te == s), size, replace=False)
        else:
            idx = er.choice(len(sp_te), size, replace=False)
        za = model(mx.array(A_te[idx]))
        zb = model(mx.array(B_te[idx]))
        pred = mx.argmax(za @ zb.T, axis=1)
        hits += int(mx.sum(pred == mx.arange(size)).item())
        tot += size
    return hits / tot


calib_before = np.array(model.calib.weight)
t0 = time.time()
log.info("chance match rate for a 64-bird batch: %.3f | untrained encoder: acc_mixed=%.3f acc_within=%.3f",
         1 / 64, match_acc(False), match_acc(True))
for stage, steps in (("mixed", 300), ("same-species", 300)):
    log.info("stage %s begins (%d steps)", stage, steps)
    window = []
    for step in range(1, steps + 1):
        a, b = batch(stage)
        loss = train_step(a, b)
        mx.eval(state, loss)
        window.append(loss.item())
        if step == 1 or step % 50 == 0:
            log.info("stage=%s step=%d/%d nce=%.3f acc_mixed=%.3f acc_within=%.3f",
                     stage, step, steps, np.mean(window[-50:]),
                     match_acc(False), match_acc(True))

drift = float(np.max(np.abs(np.array(model.calib.weight) - calib_before)))
log.info("done in %.1fs: acc_mixed=%.3f acc_within=%.3f calib drift=%.1e",
         time.time() - t0, match_acc(False), match_acc(True), drift)
