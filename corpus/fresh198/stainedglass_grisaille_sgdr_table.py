# Stained-glass studio: predict how a grisaille (vitreous paint) layer fires.
# Targets: fired opacity (%) and colour shift dE (CIE76) from the kiln sheet.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_sheets(n):
    peak = rng.uniform(620, 700, n)          # degC
    hold = rng.uniform(0, 20, n)             # minutes at peak
    layers = rng.integers(1, 4, n).astype(np.float64)
    flashed = rng.integers(0, 2, n).astype(np.float64)
    ramp = rng.uniform(80, 300, n)           # degC / h
    frit = rng.uniform(5, 40, n)             # % frit in paint
    gum = rng.uniform(0, 1, n)               # gum arabic fraction
    x = np.stack([peak, hold, layers, flashed, ramp, frit, gum], 1)
    z = (0.06 * (peak - 660) + 0.08 * hold - 0.9 * (layers - 2) + 0.5 * flashed
         - 0.004 * (ramp - 190) + 0.03 * (frit - 22) - 0.8 * gum
         + 0.35 * np.sin((peak - 620) / 12.0))
    opacity = 100.0 / (1.0 + np.exp(z)) + rng.normal(0, 2.0, n)
    shift = (np.log1p(np.exp(0.05 * (peak - 650) + 0.04 * hold + 0.6 * flashed - 0.5))
             * 3.0 + rng.normal(0, 0.25, n))
    return x.astype(np.float32), np.clip(opacity, 0, 100).astype(np.float32), np.maximum(shift, 0).astype(np.float32)


xtr, otr, str_ = make_sheets(4000)
xva, ova, sva = make_sheets(800)
mu, sd = xtr.mean(0), xtr.std(0)
xtr = (xtr - mu) / sd
xva = (xva - mu) / sd
Xtr, Otr, Str = mx.array(xtr), mx.array(otr), mx.array(str_)
Xva, Ova, Sva = mx.array(xva), mx.array(ova), mx.array(sva)


@mx.custom_function
def soft_pos(x):
    # softplus written as logaddexp, with a hand-written backward
    return mx.logaddexp(x, mx.zeros_like(x))


@soft_pos.vjp
def soft_pos_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (tuple, list)) else primals
    return cotangent * mx.sigmoid(x)


class KilnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 2)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        o = self.head(h)
        return 100.0 * mx.sigmoid(o[:, 0]), soft_pos(o[:, 1])


model = KilnNet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=3e-3)


def loss_fn(m, x, o, s):
    po, ps = m(x)
    l_op = mx.mean(((po - o) / 100.0) ** 2)
    l_sh = nn.losses.huber_loss(ps, s, delta=1.0, reduction="mean")
    return l_op + 0.1 * l_sh, (l_op, l_sh)


vg = nn.value_and_grad(model, loss_fn)

# gradient audit before training
(_, _), g0 = vg(model, Xtr[:256], Otr[:256], Str[:256])
from mlx.utils import tree_flatten
for k, v in tree_flatten(g0):
    assert float(mx.abs(v).sum()) > 0, k

# SGDR: cycles of 150, 300, 600 steps, cosine from 3e-3 to 5e-5
cycles = [150, 300, 600]
LR_MAX, LR_MIN = 3e-3, 5e-5
base_op = float(mx.sqrt(mx.mean((Ova - Otr.mean()) ** 2)))
base_sh = float(mx.mean(mx.abs(Sva - Str.mean())))

print(f"{'step':>5} {'cyc':>3} {'lr':>9} | {'opac_rmse_%':>11} {'(mean)':>7} | {'dE_mae':>7} {'(mean)':>7} | {'train_op':>8} {'train_sh':>8}")
print("-" * 86)
step = 0
B = 128
for ci, clen in enumerate(cycles):
    for t in range(clen):
        lr = LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * t / clen))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, Xtr.shape[0], B))
        (loss, (lop, lsh)), grads = vg(model, Xtr[idx], Otr[idx], Str[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, lop, lsh)
        step += 1
        if step % 50 == 0 or t == 0:
            po, ps = model(Xva)
            rm = float(mx.sqrt(mx.mean((po - Ova) ** 2)))
            mae = float(mx.mean(mx.abs(ps - Sva)))
            print(f"{step:>5} {ci+1:>3} {lr:>9.2e} | {rm:>11.3f} {base_op:>7.2f} | {mae:>7.3f} {base_sh:>7.3f} | {float(lop):>8.5f} {float(lsh):>8.5f}")
print("-" * 86)
po, ps = model(Xva)
print(f"final: opacity RMSE {float(mx.sqrt(mx.mean((po - Ova) ** 2))):.2f} % (mean-predictor {base_op:.2f} %), "
      f"dE MAE {float(mx.mean(mx.abs(ps - Sva))):.3f} (mean-predictor {base_sh:.3f})")
