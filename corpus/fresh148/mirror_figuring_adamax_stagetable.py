"""Amateur telescope making: predict the residual surface error (nm RMS) of a
Newtonian primary after a polishing session, from bench notes.

Two stages: first the model sees only the smooth rough-polish sessions, then the
fine-figuring sessions are added (pitch-lap temperature and W-stroke effects
interact there), which is harder, so the error jumps before it settles again.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(148)
mx.random.seed(148)
FEATS = ["stroke_len", "grit_stage", "lap_temp", "pressure", "w_stroke", "minutes", "diameter"]


def sessions(n, fine):
    x = rng.normal(size=(n, 7)).astype(np.float32)
    y = (38.0 + 14.0 * np.tanh(x[:, 0]) - 7.0 * x[:, 1] * x[:, 3]
         + 5.0 * np.sin(2.0 * x[:, 5]) + 3.0 * x[:, 6])
    if fine:
        y = y + 9.0 * x[:, 2] * x[:, 4] + 4.0 * np.abs(x[:, 2]) - 3.0
        y = y + rng.normal(scale=2.5, size=n)
    else:
        x[:, 2] *= 0.15   # lap temperature barely varies in rough polish
        x[:, 4] *= 0.15
        y = y + rng.normal(scale=1.5, size=n)
    return x, y.astype(np.float32)


rough_tr, rough_te = sessions(3000, False), sessions(800, False)
fine_tr, fine_te = sessions(3000, True), sessions(800, True)


class FigureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


Y_SHIFT, Y_SCALE = 38.0, 12.0
model = FigureNet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=4e-3)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), (yb - Y_SHIFT) / Y_SCALE)


step_fn = nn.value_and_grad(model, loss_fn)


def evaluate(xs, ys, base_mean):
    pred = model(mx.array(xs)) * Y_SCALE + Y_SHIFT
    err = pred - mx.array(ys)
    rmse = math.sqrt(mx.mean(err * err).item())
    base = math.sqrt(float(np.mean((ys - base_mean) ** 2)))
    r2 = 100.0 * (1.0 - rmse ** 2 / float(np.var(ys)))
    return rmse, base, r2


# gradient check once before training: every trained tensor must get a signal
_, g0 = step_fn(model, mx.array(rough_tr[0][:64]), mx.array(rough_tr[1][:64]))
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
print(f"grad audit: {len(tree_flatten(g0))} tensors, zero-grad: {zero if zero else 'none'}")

print("+--------+------+-----------+-----------+--------+")
print("| stage  | step | rmse [nm] | mean-pred | R2 [%] |")
print("+--------+------+-----------+-----------+--------+")

stages = [("rough", [rough_tr], rough_te, 700), ("figure", [rough_tr, fine_tr], fine_te, 1100)]
bs = 128
for name, pools, test, n_steps in stages:
    xs = np.concatenate([p[0] for p in pools])
    ys = np.concatenate([p[1] for p in pools])
    base_mean = float(ys.mean())
    for step in range(n_steps + 1):
        if step % 100 == 0:
            rmse, base, r2 = evaluate(test[0], test[1], base_mean)
            print(f"| {name:<6} | {step:4d} | {rmse:9.3f} | {base:9.3f} | {r2:6.1f} |")
        if step == n_steps:
            break
        idx = rng.integers(0, len(xs), size=bs)
        loss, grads = step_fn(model, mx.array(xs[idx]), mx.array(ys[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
print("+--------+------+-----------+-----------+--------+")
rmse_r, _, _ = evaluate(rough_te[0], rough_te[1], float(rough_tr[1].mean()))
rmse_f, base_f, r2_f = evaluate(fine_te[0], fine_te[1], float(fine_tr[1].mean()))
print(f"final: rough-polish rmse {rmse_r:.2f} nm, fine-figuring rmse {rmse_f:.2f} nm "
      f"(mean-pred {base_f:.2f} nm), R2 {r2_f:.1f}%")
