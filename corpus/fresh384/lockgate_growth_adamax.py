"""Canal lock fill time with a network that gains a residual block at each stage."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
mx.random.seed(5)


def draw(n):
    rise = rng.uniform(1.5, 9.0, n)            # metres
    area = rng.uniform(150, 900, n)            # chamber m^2
    sluice = rng.uniform(0.6, 3.0, n)          # open sluice area m^2
    upper = rng.normal(0, 0.25, n)             # upper pound level anomaly m
    leak = rng.uniform(0, 1, n)                # gate leakage score
    staged = rng.integers(0, 2, n)             # paddles opened in stages
    t = 2 * area * np.sqrt(rise + upper + 0.3) / (0.62 * sluice * np.sqrt(2 * 9.81)) / 60
    t = t * (1 + 0.35 * staged) * (1 + 0.25 * leak ** 2)
    noise = rng.normal(0, 0.04 + 0.08 * leak, n)          # leaky gates -> noisier timing
    X = np.stack([rise, area / 100, sluice, upper, leak, staged], 1).astype(np.float32)
    return X, np.log(t) + noise


Xtr, ytr = draw(12000)
Xva, yva = draw(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr, yva = mx.array(ytr.astype(np.float32)), mx.array(yva.astype(np.float32))
y_np = np.array(yva)


class Block(nn.Module):
    def __init__(self, d, zero_out):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.up = nn.Linear(d, 2 * d)
        self.down = nn.Linear(2 * d, d)
        if zero_out:
            self.down.weight = mx.zeros_like(self.down.weight)
            self.down.bias = mx.zeros_like(self.down.bias)

    def __call__(self, h):
        return h + self.down(nn.gelu(self.up(self.norm(h))))


class LockNet(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.stem = nn.Linear(6, d)
        self.blocks = [Block(d, zero_out=False)]
        self.mean = nn.Linear(d, 1)
        self.logvar = nn.Linear(d, 1)

    def grow(self):
        self.blocks.append(Block(self.stem.weight.shape[0], zero_out=True))

    def __call__(self, x):
        h = self.stem(x)
        for b in self.blocks:
            h = b(h)
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -9.0, 3.0)


def nll(model, x, y):
    m, lv = model(x)
    return mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv) + np.log(2 * np.pi)))


def report(model):
    m, lv = model(Xva)
    v = nll(model, Xva, yva).item()
    mins = np.exp(np.array(m)); true = np.exp(y_np)
    mape = 100 * np.mean(np.abs(mins - true) / true)
    z = np.abs(y_np - np.array(m)) / np.exp(0.5 * np.array(lv))
    return v, mape, 100 * np.mean(z < 1.2816)


n_params = lambda m: sum(v.size for _, v in tree_flatten(m.parameters()))
base_mape = 100 * np.mean(np.abs(np.exp(float(np.mean(np.array(ytr)))) - np.exp(y_np)) / np.exp(y_np))
print(f"lock log: train {Xtr.shape[0]} fills, valid {Xva.shape[0]} | predict-median-time MAPE {base_mape:.1f}%")

model = LockNet()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, nll)
STEPS, B, WARM = 700, 128, 100
t0 = time.time()
for stage in range(1, 4):
    if stage > 1:
        before = report(model)[0]
        model.grow()
        mx.eval(model.parameters())
        after = report(model)[0]
        print(f"grow: added block {len(model.blocks)} (zero-initialised output), valid nll {before:.4f} -> {after:.4f}")
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)], [WARM])
    opt = optim.Adamax(learning_rate=sched)
    print(f"##### stage {stage}: {len(model.blocks)} block(s), {n_params(model)} parameters, "
          f"fresh Adamax, lr warm-up from 0 over {WARM} steps #####")
    print("stage  step      lr   train_nll  valid_nll  valid_mape%  in80%")
    run = []
    for s in range(1, STEPS + 1):
        lr_now = sched(opt.step).item()
        idx = mx.array(rng.integers(0, Xtr.shape[0], B))
        loss, g = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if s in (1, 50) or s % 175 == 0:
            v, mape, cov = report(model)
            print(f"{stage:5d} {s:5d} {lr_now:7.5f} {np.mean(run):10.4f} {v:10.4f} {mape:12.2f} {cov:6.1f}")
            run = []

v, mape, cov = report(model)
print(f"final: valid nll {v:.4f} nats, MAPE {mape:.2f}% (median baseline {base_mape:.1f}%), "
      f"80% interval coverage {cov:.1f}%, {time.time() - t0:.1f}s")
