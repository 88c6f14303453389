import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)
S = 12
PRIOR = np.array([0.6, 0.25, 0.15])


def tile(k):
    img = rng.normal(0, 0.8, (S, S)).astype(np.float32)
    if k == 1:
        r = rng.integers(2, 9)
        img[r:r + 2, :] += 1.4
    elif k == 2:
        c = rng.integers(2, 9)
        img[:, c:c + 2] += 1.4
    return img


def make(n):
    y = rng.choice(3, size=n, p=PRIOR).astype(np.int32)
    x = np.stack([tile(k) for k in y])[..., None]
    return x, y


xtr, ytr = make(3000)
xte, yte = make(1000)
xtr, ytr, xte, yte = map(mx.array, (xtr, ytr, xte, yte))
majority = float((np.array(yte) == 0).mean() * 100)


class TesseraNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 3, padding=1)
        self.c2 = nn.Conv2d(12, 24, 3, stride=2, padding=1)
        self.pool = nn.AvgPool2d(2, 2)
        self.fc = nn.Linear(24 * 3 * 3, 3)

    def __call__(self, x):
        x = nn.silu(self.c1(x))
        x = nn.silu(self.c2(x))
        x = self.pool(x)
        return self.fc(x.reshape(x.shape[0], -1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = TesseraNet()
BATCH, CYCLE_EPOCHS, CYCLES = 60, 4, 3
spe = 3000 // BATCH
cyc = optim.cosine_decay(0.05, CYCLE_EPOCHS * spe, 1e-3)
sched = optim.join_schedules([cyc] * CYCLES,
                             [CYCLE_EPOCHS * spe * i for i in range(1, CYCLES)])
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate():
    logits = model(xte)
    acc = (mx.argmax(logits, 1) == yte).astype(mx.float32).mean().item() * 100
    return loss_fn(model, xte, yte).item(), acc


t0 = time.time()
print(json.dumps({"event": "start", "test_xent": round(evaluate()[0], 4),
                  "majority_baseline_acc_pct": round(majority, 2),
                  "cycles": CYCLES, "epochs_per_cycle": CYCLE_EPOCHS}))
hist = []
for ep in range(1, CYCLES * CYCLE_EPOCHS + 1):
    perm = mx.array(rng.permutation(3000))
    tot = 0.0
    for s in range(spe):
        idx = perm[s * BATCH:(s + 1) * BATCH]
        loss = step(xtr[idx], ytr[idx])
        mx.eval(state, loss)
        tot += loss.item()
    hist.append(tot / spe)
    if ep % CYCLE_EPOCHS == 0:
        te_loss, te_acc = evaluate()
        print(json.dumps({"event": "cycle_end", "cycle": ep // CYCLE_EPOCHS,
                          "epoch": ep, "lr_now": round(opt.learning_rate.item(), 5),
                          "train_xent_per_epoch": [round(h, 4) for h in hist[-CYCLE_EPOCHS:]],
                          "test_xent": round(te_loss, 4), "test_acc_pct": round(te_acc, 2),
                          "majority_baseline_acc_pct": round(majority, 2)}))
print(json.dumps({"event": "done", "secs": round(time.time() - t0, 1)}))
