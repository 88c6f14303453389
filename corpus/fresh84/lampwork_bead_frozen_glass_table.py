"""Lampwork glass beads: minutes a bead must soak in the kiln before it is safe to cool.

Glass type is looked up in a FIXED property table (COE, softening point, viscosity slope)
stored as an nn.Embedding that is frozen on purpose; the MLP on top is trained.
Compiled train step with state in/out, Adam with a linear warm-up from 0.
"""
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

GLASSES = ["soda-lime 104", "borosilicate 33", "lead crystal", "soda-lime 96", "silver-rich 104"]
# COE (1e-7/K), softening point (C), viscosity slope -- standardised by hand
PROPS = np.array([[104, 712, 1.0], [33, 820, 0.6], [90, 630, 1.3], [96, 690, 0.9], [104, 700, 1.1]],
                 dtype=np.float32)
PROPS_STD = (PROPS - PROPS.mean(0)) / PROPS.std(0)

rng = np.random.default_rng(21)


def make(n):
    g = rng.integers(0, 5, n)
    diam = rng.uniform(8, 30, n)          # mm
    mandrel = rng.uniform(1.5, 5.0, n)    # mm
    kiln = rng.uniform(480, 560, n)       # C
    coe, soft, slope = PROPS[g, 0], PROPS[g, 1], PROPS[g, 2]
    minutes = (5 + 0.02 * diam ** 2 * (coe / 90) + 2.0 * mandrel
               + 0.08 * np.maximum(soft - 40 - kiln, 0) * slope
               + rng.normal(0, 1.5, n))
    X = np.stack([(diam - 19) / 6.4, (mandrel - 3.25) / 1.0, (kiln - 520) / 23], 1).astype(np.float32)
    return g.astype(np.int32), X, minutes.astype(np.float32)


gtr, Xtr, ytr = make(12000)
gte, Xte, yte = make(2000)
ymu, ysd = ytr.mean(), ytr.std()


class BeadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.glass = nn.Embedding(5, 3)
        self.glass.weight = mx.array(PROPS_STD)
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, g, x):
        return self.body(mx.concatenate([self.glass(g), x], axis=-1)).squeeze(-1)


mx.random.seed(21)
net = BeadNet()
net.glass.freeze()                      # the property table is known physics, not learned
mx.eval(net.parameters())
table_before = np.array(net.glass.weight)

steps = 3000
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 150),
                              optim.cosine_decay(2e-3, steps - 150, 2e-5)], [150])
opt = optim.Adam(learning_rate=sched)


def loss_fn(model, g, x, y):
    return nn.losses.mse_loss(model(g, x), (y - ymu) / ysd)


state = [net.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(g, x, y):
    loss, grads = nn.value_and_grad(net, loss_fn)(net, g, x, y)
    opt.update(net, grads)
    return loss


gte_m, Xte_m = mx.array(gte), mx.array(Xte)


def test_mae():
    pred = net(gte_m, Xte_m) * ysd + ymu
    return float(mx.mean(mx.abs(pred - mx.array(yte))).item())


# one eager gradient look before the compiled loop
_, g0 = nn.value_and_grad(net, loss_fn)(net, mx.array(gtr[:128]), mx.array(Xtr[:128]), mx.array(ytr[:128]))
leaves = tree_flatten(g0)
print(f"BEADS  glasses={len(GLASSES)}  train={len(ytr)}  test={len(yte)}  predict-mean MAE={np.mean(np.abs(yte - ymu)):.2f} min  noise MAE~1.20 min")
print(f"BEADS  trainable leaves={len(leaves)}  zero-gradient leaves={[k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0] or 'none'}  frozen: glass.weight")
print(f"BEADS  step=0     lr=0.00e+00  test_mae_min={test_mae():.3f}")

bs, t0, acc, cnt = 96, time.time(), 0.0, 0
perm, cur = rng.permutation(len(ytr)), 0
for s in range(1, steps + 1):
    if cur + bs > len(ytr):
        perm, cur = rng.permutation(len(ytr)), 0
    idx = perm[cur:cur + bs]
    cur += bs
    lr_used = float(sched(opt.step).item())
    loss = step(mx.array(gtr[idx]), mx.array(Xtr[idx]), mx.array(ytr[idx]))
    mx.eval(loss, state)
    acc += loss.item(); cnt += 1
    if s in (1, 100) or s % 500 == 0:
        print(f"BEADS  step={s:<5d} lr={lr_used:.2e}  train_mse_std={acc / cnt:.4f}  test_mae_min={test_mae():.3f}  t={time.time() - t0:.1f}s")
        acc, cnt = 0.0, 0

drift = float(np.abs(np.array(net.glass.weight) - table_before).max())
print(f"BEADS  done  test_mae_min={test_mae():.3f}  glass table max change={drift}  total {time.time() - t0:.1f}s")
