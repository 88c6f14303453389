# Ropewalk QA: classify the lay of a hemp rope (slack / standard / hard / kinked)
# from 10 twist-and-tension readings taken along the walk.
# Stage "fit" trains plainly; stage "regularise" switches on label smoothing
# and dropout, so the reported training CE jumps up on purpose.
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2024)
CLASSES = ["slack", "standard", "hard", "kinked"]
F = 10

def walk(n):
    X = rng.normal(0, 1, (n, F)).astype(np.float32)
    twist = X[:, 0] + 0.6 * X[:, 1] * X[:, 2]
    tension = X[:, 3] - 0.5 * np.tanh(X[:, 4] * 2)
    y = np.where(twist < -0.5, 0, np.where(twist > 0.7, 2, 1))
    y = np.where((tension > 1.0) & (np.abs(X[:, 5]) > 0.4), 3, y)
    flip = rng.random(n) < 0.05
    y = np.where(flip, rng.integers(0, 4, n), y)
    return X, y.astype(np.int32)

Xtr, ytr = walk(2400)
Xva, yva = walk(600)
majority_err = 100.0 * (1 - np.bincount(yva).max() / len(yva))
Xva_m, yva_m = mx.array(Xva), mx.array(yva)


class LayNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(F, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 4)
        self.drop = nn.Dropout(0.0)

    def __call__(self, x):
        h = self.drop(nn.gelu(self.l1(x)))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.head(h)


mx.random.seed(3)
model = LayNet()
EPOCHS, BATCH = 14, 64
steps_per_epoch = len(Xtr) // BATCH
total = EPOCHS * steps_per_epoch
warm = 60
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm),
     optim.cosine_decay(2e-3, total - warm, 1e-4)],
    [warm])
opt = optim.Adamax(learning_rate=schedule)
smoothing = 0.0

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, label_smoothing=smoothing, reduction="mean")

loss_and_grad = nn.value_and_grad(model, loss_fn)

# one-off audit: every parameter must receive gradient
_, g0 = loss_and_grad(model, mx.array(Xtr[:BATCH]), mx.array(ytr[:BATCH]))
from mlx.utils import tree_flatten
norms = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
print(json.dumps({"audit": "grad_norms", "min": round(min(norms.values()), 6),
                  "n_params": len(norms)}))

for ep in range(1, EPOCHS + 1):
    stage = "fit" if ep <= 6 else "regularise"
    if ep == 7:
        smoothing = 0.2
        model.drop = nn.Dropout(0.3)
    model.train()
    perm = rng.permutation(len(Xtr))
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, grads = loss_and_grad(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    model.eval()
    logits = model(Xva_m)
    val_nll = nn.losses.cross_entropy(logits, yva_m, reduction="mean").item()
    err = 100.0 * (1.0 - mx.mean(mx.argmax(logits, axis=1) == yva_m).item())
    print(json.dumps({"stage": stage, "ep": ep, "lr": round(float(opt.learning_rate), 6),
                      "smooth": smoothing, "train_ce": round(tot / steps_per_epoch, 4),
                      "val_nll": round(val_nll, 4), "val_err_pct": round(err, 2),
                      "majority_err_pct": round(majority_err, 2)}))

print(json.dumps({"done": True, "final_val_err_pct": round(err, 2),
                  "beats_majority_by_pct": round(majority_err - err, 2)}))
