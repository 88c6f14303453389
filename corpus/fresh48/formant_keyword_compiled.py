"""Keyword spotting on synthetic 'spoken' formant words, raw-waveform Conv1d front end.

Five keywords (each = three vowel segments with keyword-specific formant pairs) plus an
'other' class of random formant sequences. Compiled train step, SGD + Nesterov momentum,
warmup-then-cosine learning rate; log lines via the logging module.
"""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s kws: %(message)s")
log = logging.getLogger("kws")

SR, LEN = 4000, 480
KEYWORDS = {
    "go":    [(300, 870), (570, 840), (300, 870)],
    "stop":  [(270, 2290), (730, 1090), (440, 1020)],
    "left":  [(530, 1840), (660, 1720), (270, 2290)],
    "right": [(730, 1090), (270, 2290), (490, 1350)],
    "yes":   [(270, 2290), (530, 1840), (640, 1190)],
}
CLASSES = list(KEYWORDS) + ["other"]
rng = np.random.default_rng(5)
t = np.arange(LEN) / SR


def utterance(segments):
    warp = rng.uniform(0.92, 1.08)  # speaker formant scaling
    seg_len = int(LEN * rng.uniform(0.22, 0.28))
    start = rng.integers(0, LEN - 3 * seg_len)
    x = rng.normal(0, 0.25, LEN)
    env = np.hanning(seg_len)
    for k, (f1, f2) in enumerate(segments):
        a = start + k * seg_len
        tt = t[:seg_len]
        x[a:a + seg_len] += env * (np.sin(2 * np.pi * f1 * warp * tt + rng.uniform(0, 6.3))
                                   + 0.6 * np.sin(2 * np.pi * f2 * warp * tt + rng.uniform(0, 6.3)))
    return x.astype(np.float32)


def make_set(n):
    X = np.zeros((n, LEN, 1), dtype=np.float32)
    y = rng.integers(0, len(CLASSES), size=n)
    pool = [f for segs in KEYWORDS.values() for f in segs]
    for i in range(n):
        if CLASSES[y[i]] == "other":
            segs = [pool[j] for j in rng.integers(0, len(pool), size=3)]
            if segs in KEYWORDS.values():
                segs = segs[::-1]
        else:
            segs = KEYWORDS[CLASSES[y[i]]]
        X[i, :, 0] = utterance(segs)
    return mx.array(X), mx.array(y.astype(np.int32))


class KWSNet(nn.Module):
    def __init__(self, n_cls=len(CLASSES)):
        super().__init__()
        self.front = nn.Conv1d(1, 16, kernel_size=15, stride=3)
        self.mid = nn.Conv1d(16, 32, kernel_size=9, stride=3)
        self.back = nn.Conv1d(32, 48, kernel_size=5, stride=2)
        self.out = nn.Linear(48 * 2, n_cls)

    def __call__(self, x):
        h = nn.gelu(self.front(x))
        h = nn.gelu(self.mid(h))
        h = nn.gelu(self.back(h))
        return self.out(mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


Xtr, ytr = make_set(1200)
Xva, yva = make_set(400)
model = KWSNet()
mx.eval(model.parameters())

_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:128], ytr[:128])
dead = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
log.info("param arrays=%d  zero-grad arrays at init=%s", len(tree_flatten(g0)), dead or "none")

EPOCHS, BS = 12, 48
steps = EPOCHS * (Xtr.shape[0] // BS)
sched = optim.join_schedules([optim.linear_schedule(1e-3, 0.05, 40), optim.cosine_decay(0.05, steps - 40, 1e-3)], [40])
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate():
    pred = mx.argmax(model(Xva), axis=1)
    acc = float((pred == yva).mean())
    other = yva == CLASSES.index("other")
    fa = float(((pred != CLASSES.index("other")) & other).sum()) / max(1, int(other.sum()))
    return acc, fa


acc0, fa0 = evaluate()
log.info("before training: val top-1 %.3f  false-alarm rate %.3f (chance top-1 %.3f)", acc0, fa0, 1 / len(CLASSES))
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    run = []
    for s in range(0, Xtr.shape[0] - BS + 1, BS):
        idx = perm[s:s + BS]
        loss = train_step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        run.append(loss.item())
    if ep % 2 == 0:
        acc, fa = evaluate()
        log.info("epoch %2d/%d  train_xent %.4f  val_top1 %.3f  false_alarm %.3f  lr %.4f  %.1fs",
                 ep, EPOCHS, float(np.mean(run)), acc, fa, float(opt.learning_rate), time.time() - t0)
