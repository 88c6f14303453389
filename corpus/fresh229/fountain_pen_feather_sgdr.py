"""Fountain-pen ink feathering: predict line spread (micrometres) from nib/ink/paper.
RMSprop, LR warms from exactly 0 then cosine warm restarts; paper-stock embedding is
frozen (pretrained lookup); JSON lines through logging."""
import json
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("feather")

mx.random.seed(11)
N_PAPER, N_NUM = 6, 5          # nib width, ink viscosity, surfactant, humidity, pressure
N_TRAIN, N_VAL = 2400, 400

paper_table = mx.random.normal((N_PAPER, 4))          # "pretrained" paper descriptors
w_num = mx.array([1.4, -0.9, 0.7, 0.5, 0.3])
w_pap = mx.array([0.8, -0.6, 0.4, 0.2])

def make(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    num = mx.random.normal((n, N_NUM), key=k1)
    pap = mx.random.randint(0, N_PAPER, (n,), key=k2)
    spread = 120.0 + 25.0 * (num @ w_num + paper_table[pap] @ w_pap
                             + 0.3 * mx.tanh(num[:, 0] * num[:, 3]))
    spread = spread + 4.0 * mx.random.normal((n,), key=k3)
    return num, pap, spread

tr_num, tr_pap, tr_y = make(N_TRAIN, mx.random.key(1))
va_num, va_pap, va_y = make(N_VAL, mx.random.key(2))
Y_MU, Y_SD = 120.0, 25.0

class FeatherNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.paper = nn.Embedding(N_PAPER, 4)
        self.paper.weight = paper_table
        self.body = nn.Sequential(nn.Linear(N_NUM + 4, 32), nn.GELU(), nn.Linear(32, 1))

    def __call__(self, num, pap):
        h = mx.concatenate([num, self.paper(pap)], axis=-1)
        return self.body(h).squeeze(-1)

model = FeatherNet()
model.paper.freeze()
mx.eval(model.parameters())

CYCLE, WARM, BASE = 150, 30, 3e-3
def lr_at(step):
    # step is an mx.array counter kept by the optimizer
    s = step.astype(mx.float32)
    warm = BASE * s / WARM
    t = mx.remainder(s - WARM, CYCLE) / CYCLE
    cos = 1e-5 + 0.5 * (BASE - 1e-5) * (1 + mx.cos(math.pi * t))
    return mx.where(s < WARM, warm, cos)

opt = optim.RMSprop(learning_rate=lr_at, alpha=0.95)

def loss_fn(m, num, pap, y):
    return nn.losses.huber_loss(m(num, pap), (y - Y_MU) / Y_SD, delta=1.0, reduction="mean")

vg = nn.value_and_grad(model, loss_fn)
paper_before = mx.array(model.paper.weight)
body_before = [mx.array(v) for _, v in tree_flatten(model.body.parameters())]

BS = 64
step = 0
for epoch in range(12):
    perm = mx.random.permutation(N_TRAIN)
    tot, nb = 0.0, 0
    for i in range(0, N_TRAIN, BS):
        idx = perm[i:i + BS]
        lr_now = opt.learning_rate.item()
        loss, grads = vg(model, tr_num[idx], tr_pap[idx], tr_y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1; step += 1
        if step == 1:
            gnorm = {k: round(mx.linalg.norm(v).item(), 5) for k, v in tree_flatten(grads)}
            log.info("first step lr=%.6f grad norms %s", lr_now, json.dumps(gnorm))
    pred = model(va_num, va_pap) * Y_SD + Y_MU
    mae = mx.abs(pred - va_y).mean().item()
    base = mx.abs(tr_y.mean() - va_y).mean().item()
    log.info(json.dumps({"epoch": epoch, "step": step, "lr": round(opt.learning_rate.item(), 6),
                         "train_huber": round(tot / nb, 4), "val_mae_um": round(mae, 2),
                         "mean_baseline_um": round(base, 2)}))

d_paper = mx.abs(model.paper.weight - paper_before).max().item()
d_body = sum(mx.abs(a - b).sum().item() for a, (_, b) in
             zip(body_before, tree_flatten(model.body.parameters())))
log.info("audit frozen paper max|dW|=%.3g  body sum|dW|=%.3g", d_paper, d_body)
