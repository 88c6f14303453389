"""Two related tasks trained jointly with cross-stitch units (Misra et al. 2016).

Inputs pass through a fixed random-Fourier-feature encoder (frozen on purpose:
it is a kernel approximation, not something to learn). Two task columns
(regression of a smooth target, 3-way classification) exchange activations
through learned 2x2 cross-stitch matrices. Learning rate warms up from 0.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("xstitch")

rng = np.random.default_rng(11)
D_IN, D_RFF, H = 6, 64, 32


def make_data(n):
    x = rng.uniform(-1, 1, size=(n, D_IN)).astype(np.float32)
    s = np.sin(2.5 * x[:, 0]) + x[:, 1] * x[:, 2] - 0.5 * x[:, 3] ** 2
    y_reg = s + 0.1 * rng.standard_normal(n)
    y_cls = np.digitize(s + 0.3 * x[:, 4], [-0.4, 0.4])  # 3 classes sharing s
    return mx.array(x), mx.array(y_reg.astype(np.float32)), mx.array(y_cls.astype(np.int32))


xtr, rtr, ctr = make_data(2000)
xte, rte, cte = make_data(800)


class RFF(nn.Module):
    def __init__(self, d_in, d_out, scale=2.0):
        super().__init__()
        self.W = mx.random.normal((d_in, d_out)) * scale
        self.b = mx.random.uniform(0, 2 * math.pi, (d_out,))

    def __call__(self, x):
        return math.sqrt(2.0 / self.W.shape[1]) * mx.cos(x @ self.W + self.b)


class CrossStitchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = RFF(D_IN, D_RFF)
        self.a1, self.b1 = nn.Linear(D_RFF, H), nn.Linear(D_RFF, H)
        self.a2, self.b2 = nn.Linear(H, H), nn.Linear(H, H)
        # one 2x2 mixing matrix per stitched layer, started near identity
        self.stitch1 = mx.array([[0.9, 0.1], [0.1, 0.9]])
        self.stitch2 = mx.array([[0.9, 0.1], [0.1, 0.9]])
        self.head_reg = nn.Linear(H, 1)
        self.head_cls = nn.Linear(H, 3)

    @staticmethod
    def stitch(m, ha, hb):
        return m[0, 0] * ha + m[0, 1] * hb, m[1, 0] * ha + m[1, 1] * hb

    def __call__(self, x):
        z = self.enc(x)
        ha, hb = nn.relu(self.a1(z)), nn.relu(self.b1(z))
        ha, hb = self.stitch(self.stitch1, ha, hb)
        ha, hb = nn.relu(self.a2(ha)), nn.relu(self.b2(hb))
        ha, hb = self.stitch(self.stitch2, ha, hb)
        return self.head_reg(ha).squeeze(-1), self.head_cls(hb)


mx.random.seed(5)
model = CrossStitchNet()
model.enc.freeze()
mx.eval(model.parameters())
frozen_before = {k: np.array(v) for k, v in tree_flatten(model.enc.parameters())}
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
log.info("params: %d trainable of %d (RFF encoder frozen)", n_train, n_all)

STEPS, WARMUP, BATCH = 2000, 300, 64
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, WARMUP), optim.cosine_decay(4e-3, STEPS - WARMUP, 2e-4)],
    [WARMUP])
opt = optim.Adamax(learning_rate=sched)
W_CLS = 0.5


def loss_fn(m, x, yr, yc):
    pr, pc = m(x)
    mse = nn.losses.mse_loss(pr, yr)
    ce = nn.losses.cross_entropy(pc, yc, reduction="mean")
    return mse + W_CLS * ce, (mse, ce)


grad_fn = nn.value_and_grad(model, loss_fn)


def evaluate(x, yr, yc):
    pr, pc = model(x)
    return nn.losses.mse_loss(pr, yr), (mx.argmax(pc, -1) == yc).mean()


for step in range(STEPS):
    idx = mx.array(rng.integers(0, xtr.shape[0], BATCH))
    (loss, (mse, ce)), grads = grad_fn(model, xtr[idx], rtr[idx], ctr[idx])
    if step == 0:
        bad = [k for k, g in tree_flatten(grads) if not float(mx.abs(g).max()) > 0]
        log.info("step 0: %d grad leaves, zero-grad leaves: %s", len(tree_flatten(grads)), bad or "none")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 250 == 0 or step == STEPS - 1:
        te_mse, te_acc = evaluate(xte, rte, cte)
        log.info("step=%d lr=%.2e loss=%.4f train_mse=%.4f train_ce=%.4f test_mse=%.4f test_acc=%.3f",
                 step, float(sched(step)), loss.item(), mse.item(), ce.item(), te_mse.item(), te_acc.item())

moved = max(float(np.abs(np.array(v) - frozen_before[k]).max()) for k, v in tree_flatten(model.enc.parameters()))
log.info("stitch1=%s stitch2=%s", np.round(np.array(model.stitch1), 3).tolist(), np.round(np.array(model.stitch2), 3).tolist())
log.info("frozen encoder max change: %.1e", moved)
