# Fountain-pen ink library: learn an embedding of ink swab spectra so that two
# swabs of the same ink (different paper, wetness, scanner) land together.
# The first layer is a fixed random-feature projection kept frozen on purpose;
# only the projection head is trained, with a compiled InfoNCE step.
import logging
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s inklib: %(message)s")
log = logging.getLogger("inklib")

rng = np.random.default_rng(11)
BANDS = 24
wl = np.linspace(0, 1, BANDS)


def ink_bank(n):
    # every ink: 2-3 absorbance bumps (dye components) + sheen/shading strength
    k = rng.integers(2, 4, n)
    spec = np.zeros((n, BANDS))
    for i in range(n):
        for _ in range(k[i]):
            c, w, a = rng.uniform(0, 1), rng.uniform(0.04, 0.15), rng.uniform(0.3, 1.0)
            spec[i] += a * np.exp(-0.5 * ((wl - c) / w) ** 2)
    return spec


def swab(bank, idx):
    base = bank[idx]
    wet = rng.uniform(0.6, 1.5, (len(idx), 1))              # ink flow / wetness
    paper_tint = rng.normal(0, 0.05, (len(idx), 1)) * (1 - wl)  # paper yellowing
    tilt = rng.normal(0, 0.08, (len(idx), 1)) * (wl - 0.5)      # scanner colour tilt
    noise = rng.normal(0, 0.04, base.shape)
    x = np.log1p(wet * base) + paper_tint + tilt + noise
    return mx.array(x.astype(np.float32))


train_bank, test_bank = ink_bank(600), ink_bank(200)


class SwabEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rf = nn.Linear(BANDS, 256)      # random features, frozen
        self.head = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 32))

    def __call__(self, x):
        h = mx.cos(3.0 * self.rf(x))
        z = self.head(h)
        return z / mx.linalg.norm(z, axis=-1, keepdims=True)


enc = SwabEncoder()
enc.rf.freeze()
mx.eval(enc.parameters())
rf_before = mx.array(enc.rf.weight)
TAU = 0.1


def info_nce(m, a, b):
    za, zb = m(a), m(b)
    logits = za @ zb.T / TAU
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


opt = optim.SGD(learning_rate=0.2, momentum=0.9, nesterov=True, weight_decay=1e-5)
grad_fn = nn.value_and_grad(enc, info_nce)

# trainable-parameter audit: names and a gradient norm for each
probe = rng.choice(600, 64, replace=False)
_, g = grad_fn(enc, swab(train_bank, probe), swab(train_bank, probe))
for k, v in tree_flatten(g):
    gn = float(mx.linalg.norm(v.reshape(-1)))
    log.info("grad audit %-18s |g|=%.3e", k, gn)
    assert gn > 0
assert "rf.weight" not in dict(tree_flatten(g))

state = [enc.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(a, b):
    loss, grads = grad_fn(enc, a, b)
    opt.update(enc, grads)
    return loss


def recall_at_1(bank):
    idx = np.arange(len(bank))
    za, zb = enc(swab(bank, idx)), enc(swab(bank, idx))
    hit = mx.argmax(za @ zb.T, axis=1) == mx.arange(len(bank))
    return 100.0 * mx.mean(hit.astype(mx.float32)).item()


log.info("chance recall@1 = %.2f%% ; before training: train %.1f%% test %.1f%%",
         100.0 / 200, recall_at_1(train_bank[:200]), recall_at_1(test_bank))
STEPS, BS = 800, 128
run = 0.0
for it in range(1, STEPS + 1):
    if it == 500:
        opt.learning_rate = 0.05
    ids = rng.choice(600, BS, replace=False)
    loss = step(swab(train_bank, ids), swab(train_bank, ids))
    mx.eval(loss, enc.parameters(), opt.state)
    run += loss.item()
    if it % 100 == 0:
        log.info("it %4d  nce %.4f (log B = %.3f)  lr %.3f  recall@1 test %.1f%%",
                 it, run / 100, np.log(BS), float(opt.learning_rate.item()), recall_at_1(test_bank))
        run = 0.0

drift = float(mx.abs(enc.rf.weight - rf_before).max())
log.info("frozen rf max |dW| = %.1e ; final recall@1 train %.1f%% test %.1f%%",
         drift, recall_at_1(train_bank[:200]), recall_at_1(test_bank))
