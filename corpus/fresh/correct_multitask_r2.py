"""Correct loop: shared trunk with a classification head and a regression head.

Reports a dict of metrics per epoch: the total loss and its parts (ce, mse), plus accuracy and
R^2 of the regression head, both higher-is-better. The regression weight ramps up over the
first epochs, so the weighted total can rise briefly while every part is improving.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(9)
N, D, K = 3000, 12, 3
X = mx.random.normal((N, D))
W = mx.random.normal((D, K))
cls = mx.argmax(X @ W, axis=1)
reg = (mx.tanh(X[:, :3]).sum(axis=1, keepdims=True) + 0.1 * mx.random.normal((N, 1)))
split = 2400


class TwoHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.cls_head = nn.Linear(64, K)
        self.reg_head = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.cls_head(h), self.reg_head(h)


def losses(model, x, c, r, w_reg):
    logits, pred = model(x)
    ce = nn.losses.cross_entropy(logits, c, reduction="mean")
    mse = nn.losses.mse_loss(pred, r)
    return ce + w_reg * mse, (ce, mse)


def r2(pred, target):
    return 1.0 - ((pred - target) ** 2).sum() / ((target - target.mean()) ** 2).sum()


model = TwoHead()
opt = optim.RMSprop(learning_rate=1e-3)
vg = nn.value_and_grad(model, losses)
for epoch in range(1, 21):
    w_reg = min(1.0, 0.2 * epoch)
    perm = mx.random.permutation(split)
    for b in range(0, split, 64):
        i = perm[b:b + 64]
        (loss, _), grads = vg(model, X[i], cls[i], reg[i], w_reg)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    logits, pred = model(X[split:])
    total, (ce, mse) = losses(model, X[split:], cls[split:], reg[split:], w_reg)
    metrics = {"epoch": epoch, "loss": round(total.item(), 4), "ce": round(ce.item(), 4),
               "mse": round(mse.item(), 4), "w_reg": round(w_reg, 2),
               "acc": round((mx.argmax(logits, 1) == cls[split:]).mean().item(), 4),
               "r2": round(r2(pred, reg[split:]).item(), 4)}
    print(metrics, flush=True)
