"""Cider mill press log: juice yield per pressing, adapted to a second mill.

A float model is fitted on the home mill's log, packed to 4-bit mxfp4 (embedding
table and both hidden layers), frozen, and then only small low-rank adapters are
trained on the new mill's shorter log. Loss is a Gaussian negative log-likelihood,
so values below zero are normal once the predicted spread is tight.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_VARIETIES = 400
EMB = 32
HID = 64
NUM = 6

rng = np.random.default_rng(11)
variety_sugar = rng.normal(0, 1, (N_VARIETIES, 3)).astype(np.float32)
law = rng.normal(0, 0.6, (NUM, 3)).astype(np.float32)


def press_log(n, mill, seed):
    r = np.random.default_rng(seed)
    vid = r.integers(0, N_VARIETIES, n)
    x = r.normal(0, 1, (n, NUM)).astype(np.float32)
    f = variety_sugar[vid]
    base = 0.68 + 0.05 * np.tanh(x @ law[:, 0] + f[:, 0]) + 0.02 * f[:, 1] * x[:, 1]
    base += 0.015 * np.sin(2.0 * x[:, 2] + f[:, 2])
    if mill == 1:
        # the second mill: finer grinder and a belt press
        base += 0.03 * np.tanh(x[:, 4] - 0.5 * x[:, 3]) + 0.012 * f[:, 0] * x[:, 5]
        base -= 0.02 * (vid % 7 == 0)
    sigma = 0.01 + 0.006 * (1 + np.tanh(x[:, 0]))
    y = base + sigma * r.normal(0, 1, n)
    return (mx.array(vid.astype(np.int32)), mx.array(x),
            mx.array(y.astype(np.float32)), float(np.mean(sigma) * math.sqrt(2 / math.pi)))


class YieldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.variety = nn.Embedding(N_VARIETIES, EMB)
        self.inp = nn.Linear(NUM, EMB)
        self.h1 = nn.Linear(EMB, HID)
        self.h2 = nn.Linear(HID, HID)
        self.out = nn.Linear(HID, 2)

    def __call__(self, vid, x):
        z = self.variety(vid) + self.inp(x)
        z = nn.silu(self.h1(z))
        z = nn.silu(self.h2(z))
        o = self.out(z)
        return 0.7 + o[:, 0], o[:, 1] - 4.0


class LowRank(nn.Module):
    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        d_in = base.weight.shape[1] * 32 // base.bits
        d_out = base.weight.shape[0]
        self.a = mx.random.uniform(-1, 1, (d_in, rank)) / math.sqrt(d_in)
        self.b = mx.zeros((rank, d_out))
        self.scale = alpha / rank

    def __call__(self, z):
        return self.base(z) + self.scale * ((z @ self.a) @ self.b)


class LowRankTable(nn.Module):
    def __init__(self, base, rank):
        super().__init__()
        self.base = base
        self.u = mx.random.normal((N_VARIETIES, rank)) * 0.1
        self.v = mx.zeros((rank, EMB))

    def __call__(self, vid):
        return self.base(vid) + self.u[vid] @ self.v


def nll(model, vid, x, y):
    mu, logvar = model(vid, x)
    return mx.mean(0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar)) + 0.5 * math.log(2 * math.pi))


def evaluate(model, vid, x, y):
    mu, _ = model(vid, x)
    return nll(model, vid, x, y).item(), mx.mean(mx.abs(mu - y)).item() * 100


def packed_checksum(model):
    tot = 0
    for k, v in tree_flatten(model.parameters()):
        if v.dtype in (mx.uint32, mx.uint8):
            tot = (tot + int(mx.sum(v.astype(mx.uint32) % 9973).item())) % 1000003
    return tot


t0 = time.time()
mx.random.seed(3)
hv, hx, hy, _ = press_log(12000, 0, 1)
nv, nx, ny, _ = press_log(5000, 1, 2)
vv, vx, vy, floor_mae = press_log(2000, 1, 3)
print(f"home mill {hv.shape[0]} pressings | new mill train {nv.shape[0]} / val {vv.shape[0]}")

# --- stage 1: float fit on the home mill (quiet) ---
model = YieldNet()
opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 700, 1e-5))
step1 = nn.value_and_grad(model, nll)
for it in range(700):
    idx = mx.array(np.random.default_rng(it).integers(0, hv.shape[0], 256))
    l, g = step1(model, hv[idx], hx[idx], hy[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
float_nll, float_mae = evaluate(model, vv, vx, vy)
print(f"stage1 done ({time.time() - t0:.1f}s): float model on new-mill val  nll {float_nll:+.3f}  mae {float_mae:.3f} %")

# --- stage 2: pack to mxfp4, freeze, adapters only ---
nn.quantize(model, group_size=32, bits=4, mode="mxfp4",
            class_predicate=lambda p, m: p in ("variety", "h1", "h2"))
model.freeze()
q_nll, q_mae = evaluate(model, vv, vx, vy)
print(f"packed mxfp4 base, no adapters:  nll {q_nll:+.3f}  mae {q_mae:.3f} %")
model.h1 = LowRank(model.h1, rank=8, alpha=16)
model.h2 = LowRank(model.h2, rank=8, alpha=16)
model.variety = LowRankTable(model.variety, rank=4)
model.out.unfreeze()
for mod in (model.h1, model.h2, model.variety):
    mod.base.freeze()
model.variety.freeze(keys=["u"])
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable values {n_train}; packed checksum {packed_checksum(model)}")

STEPS, WARM, ACC, MB = 360, 60, 2, 64
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                              optim.cosine_decay(2e-3, STEPS - WARM, 3e-5)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
step2 = nn.value_and_grad(model, nll)
r = np.random.default_rng(5)
print("step   lr        train_nll  val_nll   val_mae%")
for it in range(1, STEPS + 1):
    acc_g, acc_l = None, 0.0
    for _ in range(ACC):
        idx = mx.array(r.integers(0, nv.shape[0], MB))
        l, g = step2(model, nv[idx], nx[idx], ny[idx])
        acc_g = g if acc_g is None else tree_map(lambda a, b: a + b, acc_g, g)
        acc_l += l.item()
    acc_g = tree_map(lambda a: a / ACC, acc_g)
    lr_now = sched(opt.step).item()
    opt.update(model, acc_g)
    mx.eval(model.parameters(), opt.state)
    if it >= 120 and it % 40 == 0 or it == STEPS:
        v_nll, v_mae = evaluate(model, vv, vx, vy)
        print(f"{it:4d}  {lr_now:.2e}  {acc_l / ACC:+.3f}     {v_nll:+.3f}    {v_mae:.3f}")

a_nll, a_mae = evaluate(model, vv, vx, vy)
print("--- new-mill validation summary ---")
print(f"float home model      mae {float_mae:.3f} %   nll {float_nll:+.3f}")
print(f"mxfp4 base alone      mae {q_mae:.3f} %   nll {q_nll:+.3f}")
print(f"mxfp4 + adapters      mae {a_mae:.3f} %   nll {a_nll:+.3f}")
print(f"noise floor (mae)     mae {floor_mae * 100:.3f} %")
print(f"packed checksum after {packed_checksum(model)}; wall {time.time() - t0:.1f}s")
