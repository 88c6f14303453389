"""Gilding workshop: grade of gold-leaf adhesion (4 grades) from 10 bench readings.

Movement pruning (top-v of learned scores, straight-through) with a cubic
sparsity ramp: dense warm-up, ramp to 90% sparsity, then a sparse settle stage.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- synthetic data
N_TRAIN, N_VAL, D, K = 8000, 2000, 10, 4
FEATURES = ["bole_um", "size_tack_min", "rel_humidity", "room_temp", "burnish_kg",
            "leaf_karat", "gesso_layers", "clay_fineness", "noise_a", "noise_b"]


def true_logits(x):
    tack = x[:, 1]
    hum = x[:, 2]
    s = (1.3 * np.tanh(x[:, 0]) - 0.9 * (tack - 0.4) ** 2 - 0.7 * hum * x[:, 3]
         + 0.6 * x[:, 4] * x[:, 5] + 0.5 * np.sin(2.0 * x[:, 6]) + 0.4 * x[:, 7])
    # ordinal-style logits: grade k is favoured when s is near its band
    centres = np.array([-1.8, -0.7, 0.3, 1.4])
    return -2.2 * (s[:, None] - centres[None, :]) ** 2


def sample(n):
    x = np.random.randn(n, D).astype(np.float32)
    lg = true_logits(x)
    p = np.exp(lg - lg.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([np.random.choice(K, p=row) for row in p], dtype=np.int32)
    return x, y, lg


xtr, ytr, _ = sample(N_TRAIN)
xva, yva, lgva = sample(N_VAL)
bayes_acc = float((lgva.argmax(1) == yva).mean())
majority_acc = float((yva == np.bincount(ytr).argmax()).mean())
_lp = lgva - lgva.max(1, keepdims=True)
_lp = _lp - np.log(np.exp(_lp).sum(1, keepdims=True))
bayes_ce = float(-_lp[np.arange(N_VAL), yva].mean())
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))


# ---------------------------------------------------------------- model
class ScoredLinear(nn.Module):
    """Linear layer whose weight is gated by a top-v mask of learned scores."""

    def __init__(self, din, dout):
        super().__init__()
        bound = math.sqrt(1.0 / din)
        self.weight = mx.random.uniform(-bound, bound, (dout, din))
        self.bias = mx.zeros((dout,))
        self.score = mx.zeros((dout, din))
        self._keep = 1.0

    def mask(self):
        n = self.score.size
        k = max(1, int(round(self._keep * n)))
        if k >= n:
            hard = mx.ones(self.score.shape)
        else:
            flat = self.score.reshape(-1)
            thresh = mx.sort(flat)[n - k]
            hard = (self.score >= thresh).astype(mx.float32)
        # forward uses the hard mask, backward passes straight through to the scores
        return mx.stop_gradient(hard - self.score) + self.score

    def __call__(self, x):
        return x @ (self.weight * self.mask()).T + self.bias


class GradeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = ScoredLinear(D, 96)
        self.l2 = ScoredLinear(96, 96)
        self.head = nn.Linear(96, K)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h)

    def set_keep(self, keep):
        self.l1._keep = keep
        self.l2._keep = keep

    def sparsity(self):
        zeros, total = 0, 0
        for layer in (self.l1, self.l2):
            m = mx.stop_gradient(layer.mask())
            zeros += int((m == 0).sum().item())
            total += m.size
        return zeros / total


model = GradeNet()
mx.eval(model.parameters())

TOTAL, DENSE_END, RAMP_END, FINAL_SPARSITY = 1500, 200, 1000, 0.90
WARMUP, LR_W, LR_S = 100, 2e-3, 1e-2


def target_sparsity(step):
    if step < DENSE_END:
        return 0.0
    if step >= RAMP_END:
        return FINAL_SPARSITY
    p = (step - DENSE_END) / (RAMP_END - DENSE_END)
    return FINAL_SPARSITY * (1.0 - (1.0 - p) ** 3)


w_opt = optim.Adam(learning_rate=0.0)
s_opt = optim.Adam(learning_rate=LR_S)
opt = optim.MultiOptimizer([s_opt, w_opt], [lambda path, p: path.endswith("score")])


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def accuracy(x, y):
    return float((mx.argmax(model(x), axis=1) == y).mean().item())


n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"gilding grades: train {N_TRAIN}, val {N_VAL}, features {D}, params {n_params}")
print(f"baselines: majority-grade acc {majority_acc:.3f}, bayes acc {bayes_acc:.3f}, "
      f"bayes val loss {bayes_ce:.4f}")

t0 = time.time()
BATCH = 128
rng = np.random.default_rng(SEED)
window = []
for step in range(TOTAL + 1):
    keep = 1.0 - target_sparsity(step)
    model.set_keep(keep)
    w_opt.learning_rate = LR_W * min(1.0, step / WARMUP)
    idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
    loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 100 == 0:
        stage = "dense" if step < DENSE_END else ("ramp" if step < RAMP_END else "settle")
        print(f"step {step:5d} | {stage:6s} | lr_w {w_opt.learning_rate.item():.2e} | "
              f"target sparsity {1 - keep:.3f} | mask sparsity {model.sparsity():.3f} | "
              f"train loss {np.mean(window):.4f} | val acc {accuracy(Xva, Yva):.3f}")
        window = []

val_loss = loss_fn(model, Xva, Yva).item()
final_acc = accuracy(Xva, Yva)
print(f"final: val loss {val_loss:.4f} (bayes {bayes_ce:.4f}), val acc {final_acc:.3f} "
      f"(bayes {bayes_acc:.3f}, majority {majority_acc:.3f}), "
      f"weights kept {1 - model.sparsity():.3f}, {time.time() - t0:.1f}s")
