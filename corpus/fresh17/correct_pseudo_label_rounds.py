"""Self-training with pseudo-labels on two-moons-like data.

Only 16 points are labelled.  Each round the classifier is trained on the
labelled set plus the pseudo-labelled points accepted so far, then it labels
the unlabelled pool and accepts the 150 most confident new predictions (confidence >= 0.9).  The
training set grows every round, so the per-round training loss restarts and
the number of training steps per round changes.  One JSON object per line.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(21)


def moons(n):
    t = mx.random.uniform(0, math.pi, (n,))
    lab = mx.random.randint(0, 2, (n,))
    x0 = mx.stack([mx.cos(t), mx.sin(t)], axis=1)
    x1 = mx.stack([1 - mx.cos(t), 0.5 - mx.sin(t)], axis=1)
    x = mx.where(lab[:, None] == 0, x0, x1) + 0.22 * mx.random.normal((n, 2))
    return x, lab


x_lab, y_lab = moons(16)
x_pool, y_pool_true = moons(1200)   # true labels only used for reporting
x_test, y_test = moons(600)


class Clf(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))

    def __call__(self, x):
        return self.net(x)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


model = Clf()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)

accepted = mx.zeros((x_pool.shape[0],), dtype=mx.bool_)
pseudo = mx.zeros((x_pool.shape[0],), dtype=mx.int32)
for rnd in range(7):
    idx = [i for i, a in enumerate(accepted.tolist()) if a]
    if idx:
        ia = mx.array(idx)
        xt = mx.concatenate([x_lab, x_pool[ia]])
        yt = mx.concatenate([y_lab, pseudo[ia]])
    else:
        xt, yt = x_lab, y_lab
    opt = optim.AdamW(learning_rate=5e-3, weight_decay=1e-3)
    n = xt.shape[0]
    bs = min(64, n)
    losses = []
    for epoch in range(25):
        perm = mx.random.permutation(n)
        for i in range(0, n, bs):
            b = perm[i:i + bs]
            loss, g = vg(model, xt[b], yt[b])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
    probs = mx.softmax(model(x_pool), axis=1)
    conf = probs.max(axis=1)
    pred = probs.argmax(axis=1)
    cand = mx.where(mx.logical_or(accepted, conf < 0.9), -1.0, conf)
    top = mx.argsort(-cand)[:150]
    new_accept = mx.zeros_like(accepted)
    new_accept[top] = cand[top] > 0
    pseudo = mx.where(accepted, pseudo, pred)
    accepted = mx.logical_or(accepted, new_accept)
    n_acc = accepted.sum().item()
    pl_acc = ((pseudo == y_pool_true) & accepted).sum().item() / max(n_acc, 1)
    test_acc = (mx.argmax(model(x_test), axis=1) == y_test).mean().item()
    print(json.dumps({"round": rnd, "train_size": n, "steps": len(losses),
                      "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
                      "accepted": n_acc, "pseudo_label_acc": round(pl_acc, 3),
                      "test_acc": round(test_acc, 3)}))
