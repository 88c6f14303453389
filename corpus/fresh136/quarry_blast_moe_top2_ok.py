# Quarry blasting: predict log peak particle velocity (ground vibration, mm/s) at a
# monitoring geophone from blast design + site readings. Three rock regimes follow
# different attenuation laws, so a small top-2 mixture-of-experts (Mixtral-style
# router, 4 expert MLPs) is trained on the synthetic shot log.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
N_TRAIN, N_VAL = 6000, 1000


def make_shots(n):
    charge = rng.uniform(20, 400, n)            # kg per delay
    dist = rng.uniform(80, 900, n)              # m to geophone
    regime = rng.integers(0, 3, n)              # 0 granite, 1 limestone, 2 weathered shale
    stem = rng.uniform(2.0, 5.0, n)             # stemming length m
    moist = rng.uniform(0, 1, n)
    sd = np.log(dist / np.sqrt(charge))         # scaled distance
    k = np.array([6.9, 6.2, 5.4])[regime]
    b = np.array([1.55, 1.35, 1.05])[regime]
    y = k - b * sd - 0.08 * (stem - 3.5) + np.where(regime == 2, 0.5 * moist, -0.1 * moist)
    y += rng.normal(0, 0.12, n)
    onehot = np.eye(3)[regime]
    X = np.column_stack([np.log(charge) / 6, np.log(dist) / 7, stem / 5, moist, onehot]).astype(np.float32)
    return mx.array(X), mx.array(y.astype(np.float32))


Xtr, ytr = make_shots(N_TRAIN)
Xva, yva = make_shots(N_VAL)
mu, sig = ytr.mean(), ytr.std()


class Expert(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.up = nn.Linear(d, h)
        self.down = nn.Linear(h, 1)

    def __call__(self, x):
        return self.down(nn.silu(self.up(x)))


class Top2MoE(nn.Module):
    def __init__(self, d, h=32, n_experts=4, k=2):
        super().__init__()
        self.k = k
        self.gate = nn.Linear(d, n_experts, bias=False)
        self.experts = [Expert(d, h) for _ in range(n_experts)]

    def __call__(self, x):
        gates = self.gate(x)
        k = self.k
        inds = mx.stop_gradient(mx.argpartition(-gates, kth=k - 1, axis=-1)[:, :k])
        scores = mx.softmax(mx.take_along_axis(gates, inds, axis=-1), axis=-1)
        y = mx.zeros((x.shape[0], 1))
        for e, expert in enumerate(self.experts):
            w = (scores * (inds == e)).sum(axis=-1, keepdims=True)
            y = y + w * expert(x)
        return y.squeeze(-1), inds


model = Top2MoE(Xtr.shape[1])
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(model, x, y):
    pred, _ = model(x)
    return nn.losses.mse_loss(pred, (y - mu) / sig)


loss_and_grad = nn.value_and_grad(model, loss_fn)

BATCH, STEPS = 128, 600
t0 = time.time()
print(f"shots: {N_TRAIN} train / {N_VAL} val, experts=4 top-2, batch={BATCH}")
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
    loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 100 == 0 or step == 1:
        pred, inds = model(Xva)
        rmse = math.sqrt(nn.losses.mse_loss(pred * sig + mu, yva).item())
        load = np.bincount(np.array(inds).ravel(), minlength=4) / inds.size
        print(f"[{step:4d}] train_mse={loss.item():.4f} val_rmse_lnPPV={rmse:.3f} "
              f"load={' '.join(f'{v:.2f}' for v in load)}")
print(f"done in {time.time() - t0:.1f}s")
