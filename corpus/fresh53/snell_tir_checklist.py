"""Two-head optics model: given incidence angle and the two refractive
indices, predict (a) whether total internal reflection happens and
(b) the refraction angle when it does not (Snell's law).

Loss = BCE(TIR) + masked MSE(angle, only on non-TIR rays).
Compiled train step (mx.compile with model/optimizer state), Adafactor.
Progress is written as a markdown checklist: a ticked box means the
validation score improved on the best so far.
"""
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)


def make_rays(n):
    n1 = rng.uniform(1.0, 2.4, size=n)
    n2 = rng.uniform(1.0, 2.4, size=n)
    th1 = rng.uniform(0.0, np.pi / 2 * 0.98, size=n)
    s = n1 * np.sin(th1) / n2
    tir = (s >= 1.0).astype(np.float32)
    th2 = np.where(tir > 0, 0.0, np.arcsin(np.clip(s, -1, 1)))
    x = np.stack([th1 / (np.pi / 2), np.sin(th1), (n1 - 1.7) / 0.4, (n2 - 1.7) / 0.4, np.log(n1 / n2)], 1)
    return x.astype(np.float32), tir, th2.astype(np.float32)


Xtr, Ttr, Atr = map(mx.array, make_rays(12000))
Xva, Tva, Ava = map(mx.array, make_rays(3000))


class OpticsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.tir_head = nn.Linear(96, 1)
        self.angle_head = nn.Linear(96, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.tir_head(h).squeeze(-1), self.angle_head(h).squeeze(-1)


def loss_fn(model, x, tir, ang):
    logit, a = model(x)
    bce = nn.losses.binary_cross_entropy(logit, tir, with_logits=True, reduction="mean")
    keep = 1.0 - tir
    mse = (keep * (a - ang) ** 2).sum() / mx.maximum(keep.sum(), 1.0)
    return bce + mse


mx.random.seed(1)
model = OpticsNet()
mx.eval(model.parameters())
opt = optim.Adafactor(learning_rate=3e-3, relative_step=False, scale_parameter=False)

_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:512], Ttr[:512], Atr[:512])
flat = tree_flatten(g0)
dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
print(f"<!-- grad check: {len(flat) - len(dead)}/{len(flat)} leaves non-zero -->")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, tir, ang):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, tir, ang)
    opt.update(model, grads)
    return loss


def evaluate():
    logit, a = model(Xva)
    pred_tir = (logit > 0).astype(mx.float32)
    acc = float((pred_tir == Tva).mean())
    keep = 1.0 - Tva
    mae_deg = float((keep * mx.abs(a - Ava)).sum() / keep.sum()) * 180 / np.pi
    return acc, mae_deg


print("## Snell / TIR training log\n")
acc0, mae0 = evaluate()
print(f"- [ ] epoch 0: TIR acc {acc0:.3f}, angle MAE {mae0:.2f} deg (untrained)")
best = -1e9
BATCH, EPOCHS = 128, 14
n = Xtr.shape[0]
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(n))
    tot, nb = 0.0, 0
    for i in range(0, n - BATCH + 1, BATCH):
        idx = perm[i:i + BATCH]
        loss = train_step(Xtr[idx], Ttr[idx], Atr[idx])
        mx.eval(state)
        tot += float(loss)
        nb += 1
    acc, mae = evaluate()
    score = acc - mae / 90.0
    box = "x" if score > best else " "
    best = max(best, score)
    print(f"- [{box}] epoch {epoch}: train loss {tot / nb:.4f}, TIR acc {acc:.3f}, angle MAE {mae:.2f} deg")
print(f"\n**final**: TIR accuracy {acc:.3f}, refraction-angle MAE {mae:.2f} deg on {Xva.shape[0]} held-out rays")
