"""Bowyer's bench: draw weight (lb at 28 in) of a wooden self-bow.

The regressor is trained quantization-aware: every weight matrix is snapped to
signed powers of two (exponents -7..0 relative to the layer's largest weight,
tiny weights to zero) in the forward pass, with a straight-through gradient
to the float shadow weights.  The run stops after 10 epochs, writes a
checkpoint (weights + optimizer state), and a fresh process-like restart loads
it and continues to epoch 22.
"""

import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 5
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
N_TRAIN, N_VAL = 4000, 1000
N = N_TRAIN + N_VAL
width = rng.normal(38.0, 4.0, N)        # mm at the fades
thick = rng.normal(16.0, 1.6, N)        # mm at mid-limb
length = rng.normal(68.0, 3.0, N)       # inches nock to nock
density = rng.normal(0.68, 0.07, N)     # g/cm3
moisture = rng.normal(10.0, 1.8, N)     # %
tiller = rng.normal(0.0, 0.25, N)       # upper minus lower limb, inches
NOISE_LB = 1.5
draw = (
    48.0 * (width / 38.0) * (thick / 16.0) ** 3 * (68.0 / length) ** 2 * (density / 0.68)
    * (1.0 - 0.03 * (moisture - 10.0))
    - 3.0 * np.abs(tiller)
    + rng.normal(0.0, NOISE_LB, N)
)
X = np.stack([width, thick, length, density, moisture, tiller], 1)
xm, xs = X[:N_TRAIN].mean(0), X[:N_TRAIN].std(0)
ym, ys = draw[:N_TRAIN].mean(), draw[:N_TRAIN].std()
X = ((X - xm) / xs).astype(np.float32)
Y = ((draw - ym) / ys).astype(np.float32)[:, None]
Xtr, Ytr = mx.array(X[:N_TRAIN]), mx.array(Y[:N_TRAIN])
Xva, Yva = mx.array(X[N_TRAIN:]), mx.array(Y[N_TRAIN:])
mean_baseline = float(np.mean((draw[N_TRAIN:] - ym) ** 2))
print(f"draw weight {ym:.1f} +- {ys:.1f} lb; predict-the-mean val MSE {mean_baseline:.2f} lb^2; "
      f"noise floor {NOISE_LB ** 2:.2f} lb^2")


# ---------------------------------------------------------------- model
def pow2_code(w):
    """Signed exponent code: 0 for a zeroed weight, else sign * (8 + k), k in -7..0."""
    mag = mx.abs(w) / mx.max(mx.abs(w))
    e = mx.clip(mx.round(mx.log2(mx.maximum(mag, 1e-12))), -7, 0)
    return mx.where(mag < 2.0 ** -7.5, 0.0, mx.sign(w) * (8.0 + e))


def pow2_snap(w):
    alpha = mx.stop_gradient(mx.max(mx.abs(w)))
    code = mx.stop_gradient(pow2_code(w))
    return mx.where(code == 0, 0.0, mx.sign(code) * alpha * mx.power(2.0, mx.abs(code) - 8.0))


class Pow2Linear(nn.Linear):
    def __call__(self, x):
        w = self.weight
        wq = w + mx.stop_gradient(pow2_snap(w) - w)
        return x @ wq.T + self.bias


class BowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = Pow2Linear(6, 64)
        self.l2 = Pow2Linear(64, 64)
        self.out = Pow2Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def val_mse_lb2(model):
    return loss_fn(model, Xva, Yva).item() * ys ** 2


def snapped_codes(model):
    return [np.array(pow2_code(l.weight)) for l in (model.l1, model.l2, model.out)]


BATCH = 64
STEPS_PER_EPOCH = N_TRAIN // BATCH
WARM = 150


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM), optim.exponential_decay(2e-3, 0.9995)], [WARM]
    )
    return optim.Adam(learning_rate=sched)


def train(model, opt, first_epoch, last_epoch, report_every):
    step_fn = nn.value_and_grad(model, loss_fn)
    prev = snapped_codes(model)
    for ep in range(first_epoch, last_epoch + 1):
        perm = mx.array(rng.permutation(N_TRAIN))
        tot = 0.0
        for i in range(STEPS_PER_EPOCH):
            idx = perm[i * BATCH : (i + 1) * BATCH]
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        cur = snapped_codes(model)
        flips = sum(int(np.sum(a != b)) for a, b in zip(cur, prev))
        prev = cur
        if ep % report_every == 0 or ep == last_epoch:
            print(f"epoch {ep:2d}  step {int(opt.state['step'].item()):5d}  "
                  f"train_mse {tot / STEPS_PER_EPOCH * ys ** 2:7.2f} lb^2  "
                  f"val_mse {val_mse_lb2(model):6.2f} lb^2  code flips {flips:5d}  "
                  f"lr {opt.learning_rate.item():.2e}")


t0 = time.time()
model = BowNet()
mx.eval(model.parameters())
opt = make_optimizer()
print(f"initial val MSE {val_mse_lb2(model):.2f} lb^2")
train(model, opt, 1, 10, report_every=1)

with tempfile.TemporaryDirectory() as ckdir:
    wpath = os.path.join(ckdir, "bow_weights.safetensors")
    opath = os.path.join(ckdir, "bow_opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    saved_val = val_mse_lb2(model)
    print(f"checkpoint written at step {int(opt.state['step'].item())}, val MSE {saved_val:.2f} lb^2")
    del model, opt

    model = BowNet()
    model.load_weights(wpath)
    opt = make_optimizer()
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    print(f"resumed at step {int(opt.state['step'].item())}, val MSE {val_mse_lb2(model):.2f} lb^2 "
          f"(checkpoint said {saved_val:.2f})")

train(model, opt, 11, 22, report_every=4)

final = val_mse_lb2(model)
w_all = np.concatenate([c.ravel() for c in snapped_codes(model)])
exps = np.unique(np.abs(w_all[w_all != 0]).astype(int) - 8)
print(f"val MSE {final:.2f} lb^2 vs predict-the-mean {mean_baseline:.2f} and noise floor {NOISE_LB ** 2:.2f}")
print(f"weights in use are 0 or +-2^k with k in {exps.tolist()} relative to each layer's max; "
      f"zeros {np.mean(w_all == 0):.1%}")
print(f"done in {time.time() - t0:.1f}s")
