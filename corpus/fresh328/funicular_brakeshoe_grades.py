"""Funicular depot: grade brake-shoe wear stage (0 = new .. 4 = replace) from
10 synthetic inspection readings.

Ordinal (cumulative-logit, CORAL-style) head on a BatchNorm MLP, compiled train
step that carries the BatchNorm running statistics, Adagrad, and an in-loop
MC-dropout grader (BatchNorm frozen, dropout left sampling) for the uncertainty
column.
"""

import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
K = 5


def make(n):
    km = rng.uniform(0, 40, n)                      # thousand km since fitting
    grade = rng.uniform(0, 1, n)                    # track gradient share
    wet = rng.integers(0, 2, n)
    load = rng.normal(1.0, 0.2, n)
    temp = rng.normal(40, 15, n)
    squeal = rng.poisson(1 + km / 10, n)
    thick = 18 - 0.3 * km * (1 + 0.5 * grade) * load + rng.normal(0, 0.8, n)
    vib = 0.2 * km / 40 + rng.normal(0, 0.05, n)
    dust = 0.1 * km * load + rng.normal(0, 0.5, n)
    age = rng.uniform(0, 10, n)
    X = np.stack([km, grade, wet, load, temp, squeal, thick, vib, dust, age], 1)
    score = (18 - thick) / 3.2 + 0.6 * vib + 0.3 * wet + rng.normal(0, 0.45, n)
    y = np.clip(np.floor(score), 0, K - 1).astype(np.int32)
    return X.astype(np.float32), y


Xtr, ytr = make(6000)
Xva, yva = make(1500)
m, s = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - m) / s, (Xva - m) / s
Xtr, Xva, ytr_mx = mx.array(Xtr), mx.array(Xva), mx.array(ytr)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 64)
        self.bn1 = nn.BatchNorm(64)
        self.d1 = nn.Dropout(0.2)
        self.l2 = nn.Linear(64, 64)
        self.bn2 = nn.BatchNorm(64)
        self.d2 = nn.Dropout(0.2)
        self.score = nn.Linear(64, 1, bias=False)
        self.cuts = mx.linspace(-1.5, 1.5, K - 1)

    def __call__(self, x):
        h = self.d1(nn.relu(self.bn1(self.l1(x))))
        h = self.d2(nn.relu(self.bn2(self.l2(h))))
        return self.score(h) - self.cuts          # (N, K-1) logits of P(y > k)


def ordinal_loss(model, x, y):
    logits = model(x)
    target = (y[:, None] > mx.arange(K - 1)[None, :]).astype(mx.float32)
    return nn.losses.binary_cross_entropy(logits, target, reduction="mean")


def stage_of(logits):
    return (mx.sigmoid(logits) > 0.5).sum(-1)


def mc_grade(model, x, samples=16):
    """BatchNorm on running stats, dropout still sampling."""
    model.eval()
    model.d1.train()
    model.d2.train()
    probs = mx.stack([mx.sigmoid(model(x)) for _ in range(samples)])
    model.train()
    mean = probs.mean(0)
    return (mean > 0.5).sum(-1), probs.std(0).mean()


mx.random.seed(5)
model = Grader()
opt = optim.Adagrad(learning_rate=0.05)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, g = nn.value_and_grad(model, ordinal_loss)(model, x, y)
    opt.update(model, g)
    return loss


majority = np.bincount(ytr, minlength=K).argmax()
thick_va = np.array(Xva[:, 6]) * s[6] + m[6]
rule = np.clip(np.floor((18 - thick_va) / 3.2), 0, K - 1)
print(f"stage counts train {np.bincount(ytr, minlength=K).tolist()}")
print(f"baselines on valid: majority stage {majority}: MAE {np.abs(yva - majority).mean():.3f} "
      f"exact {100 * (yva == majority).mean():.1f}% | thickness rule: "
      f"MAE {np.abs(yva - rule).mean():.3f} exact {100 * (yva == rule).mean():.1f}%")

EPOCHS, B = 40, 100
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(ytr)))
    tot = 0.0
    for i in range(0, len(ytr), B):
        idx = perm[i:i + B]
        loss = train_step(Xtr[idx], ytr_mx[idx])
        mx.eval(state, loss)
        tot += loss.item()
    if epoch in (1, 10, 25, 40):
        pred, spread = mc_grade(model, Xva)
        pred = np.array(pred)
        model.eval()
        det = np.array(stage_of(model(Xva)))
        model.train()
        print(f"epoch {epoch:2d}  bce {tot / (len(ytr) // B):.4f}  "
              f"MC stage MAE {np.abs(pred - yva).mean():.3f}  exact {100 * (pred == yva).mean():.1f}%  "
              f"deterministic exact {100 * (det == yva).mean():.1f}%  "
              f"MC spread {spread.item():.3f}  bn1 mean|run_mu| {mx.abs(model.bn1.running_mean).mean().item():.3f}  "
              f"[{time.time() - t0:.1f}s]")

model.eval()
det = np.array(stage_of(model(Xva)))
conf = np.zeros((K, K), int)
for a, b in zip(yva, det):
    conf[a, b] += 1
print("confusion (rows true stage, cols graded):")
for k in range(K):
    print("  " + " ".join(f"{v:4d}" for v in conf[k]))
