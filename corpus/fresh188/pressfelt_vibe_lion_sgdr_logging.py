"""Paper-machine press section: classify press-felt condition from a 64-sample
accelerometer trace taken on the suction press roll.
  0 healthy, 1 felt wear (3x harmonic), 2 roll bearing defect (impulses), 3 felt filling (slow AM)
Small 1-D conv net, Lion, warm restarts with a linear warm-up that starts at lr = 0."""
import logging
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s pressfelt | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("pressfelt")

L = 64
rng = np.random.default_rng(2024)


def make(n):
    t = np.arange(L)[None, :]
    y = rng.integers(0, 4, n)
    f0 = rng.uniform(0.045, 0.06, (n, 1))           # roll rotation, cycles / sample
    ph = rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(0.6, 1.4, (n, 1))
    x = amp * np.sin(2 * np.pi * f0 * t + ph) + rng.normal(0, 0.35, (n, L))
    wear = y == 1
    x[wear] += 0.55 * np.sin(2 * np.pi * 3 * f0[wear] * t + 2 * ph[wear])
    bear = np.where(y == 2)[0]
    for i in bear:
        period = rng.integers(9, 14)
        start = rng.integers(0, period)
        x[i, start::period] += rng.uniform(1.2, 2.0)
    fill = y == 3
    x[fill] *= 1 + 0.6 * np.sin(2 * np.pi * 0.012 * t + ph[fill] * 0.5)
    return mx.array(x[..., None].astype(np.float32)), mx.array(y.astype(np.int32))


Xtr, Ytr = make(3000)
Xva, Yva = make(800)


class FeltNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 24, kernel_size=5, stride=2, padding=2)
        self.c3 = nn.Conv1d(24, 24, kernel_size=3, padding=1)
        self.out = nn.Linear(48, 4)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        h = nn.gelu(self.c3(h))
        feats = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.out(feats)


model = FeltNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)

# one-off check that every weight sees a gradient
_, g0 = vg(model, Xtr[:256], Ytr[:256])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
log.info("grad check: %d tensors, %d with all-zero grad %s", len(tree_flatten(g0)), len(zero), zero)

opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)

# majority/uniform reference printed beside the model numbers
counts = np.bincount(np.array(Yva), minlength=4)
base_acc = 100.0 * counts.max() / counts.sum()
base_ce = math.log(4)

cycles = [(160, 6e-4), (240, 4e-4), (320, 2.5e-4)]  # (steps, peak lr)
WARM = 40
B = 64
gstep = 0


def evaluate():
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
    acc = 100.0 * (logits.argmax(axis=1) == Yva).mean().item()
    return ce, acc


for c, (n_steps, peak) in enumerate(cycles, 1):
    log.info("---- restart %d/%d: %d steps, warm-up 0 -> %.1e then cosine", c, len(cycles), n_steps, peak)
    run = 0.0
    for step in range(n_steps):
        if step < WARM:
            lr = peak * step / WARM
        else:
            lr = 0.5 * peak * (1 + math.cos(math.pi * (step - WARM) / (n_steps - WARM)))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, 3000, B))
        before = model.out.weight
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = 0.9 * run + 0.1 * loss.item() if step else loss.item()
        gstep += 1
        if step % 40 == 0 or step == n_steps - 1:
            ce, acc = evaluate()
            log.info("cycle %d step %03d lr=%.6f train_ce=%.4f val_ce=%.4f val_acc=%.1f%% | ref uniform_ce=%.4f majority_acc=%.1f%%",
                     c, step, lr, run, ce, acc, base_ce, base_acc)
        if step % 80 == 79:
            gn = math.sqrt(sum((v * v).sum().item() for _, v in tree_flatten(grads)))
            pn = math.sqrt(sum((v * v).sum().item() for _, v in tree_flatten(model.parameters())))
            dw = mx.abs(model.out.weight - before).max().item()
            log.info("audit cycle %d step %03d |g|=%.4e |w|=%.3f max|dW_out|=%.2e", c, step, gn, pn, dw)

ce, acc = evaluate()
log.info("done: %d updates, final val_ce %.4f (uniform %.4f), val_acc %.1f%% (majority %.1f%%)",
         gstep, ce, base_ce, acc, base_acc)
