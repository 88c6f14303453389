"""Ice rink maintenance log: predict the surface ice temperature (deg C) ten
minutes after a resurfacing pass from 7 readings taken during the pass.

Memory layout used on a small shared machine: the float32 master weights and
the Adam moments live on the host as numpy arrays.  Each step the weights are
paged onto the device as mx arrays, the gradient is computed there, copied
back, and the Adam step runs in numpy.  The run is split in two sessions: the
first saves the host state to an .npz file, the second loads it and carries on.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn

SEED = 11
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
N_TRAIN, N_VALID = 6000, 1500
NOISE_SD = 0.12  # thermometer scatter, deg C


def make_rows(n):
    water_temp = rng.uniform(55, 75, n)          # flood water deg C
    water_litres = rng.uniform(300, 700, n)      # litres laid down
    brine_temp = rng.uniform(-11, -7, n)         # slab brine deg C
    air_temp = rng.uniform(6, 16, n)             # arena air deg C
    humidity = rng.uniform(30, 75, n)            # % RH
    skaters_before = rng.integers(0, 180, n).astype(np.float64)
    blade_depth = rng.uniform(0.5, 2.5, n)       # mm shaved
    heat_in = (water_temp - 40) * water_litres / 1000.0
    t = (brine_temp + 3.2
         + 0.22 * heat_in
         + 0.045 * (air_temp - 10)
         + 0.9 * np.tanh((humidity - 50) / 15)
         - 0.18 * blade_depth
         + 0.002 * skaters_before * (blade_depth < 1.2))
    y = t + rng.normal(0, NOISE_SD, n)
    x = np.stack([water_temp, water_litres, brine_temp, air_temp, humidity,
                  skaters_before, blade_depth], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


x_tr, y_tr = make_rows(N_TRAIN)
x_va, y_va = make_rows(N_VALID)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr = (x_tr - mu) / sd
x_va = (x_va - mu) / sd
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
t_tr = (y_tr - y_mu) / y_sd
t_va = (y_va - y_mu) / y_sd

# ---------------------------------------------------------------- model


class RinkNet(nn.Module):
    def __init__(self, d_in=7, d_h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, d_h)
        self.l2 = nn.Linear(d_h, d_h)
        self.out = nn.Linear(d_h, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def flat_names(tree, prefix=""):
    out = []
    for k, v in tree.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.extend(flat_names(v, name + "."))
        else:
            out.append(name)
    return out


def get_path(tree, name):
    for part in name.split("."):
        tree = tree[part]
    return tree


def set_path(tree, name, value):
    parts = name.split(".")
    for part in parts[:-1]:
        tree = tree[part]
    tree[parts[-1]] = value


class HostAdam:
    """Adam whose master weights and moments are numpy arrays on the host."""

    def __init__(self, params, lr_fn, b1=0.9, b2=0.999, eps=1e-8):
        self.names = flat_names(params)
        self.master = {n: np.array(get_path(params, n), dtype=np.float32)
                       for n in self.names}
        self.m = {n: np.zeros_like(v) for n, v in self.master.items()}
        self.v = {n: np.zeros_like(v) for n, v in self.master.items()}
        self.lr_fn, self.b1, self.b2, self.eps = lr_fn, b1, b2, eps
        self.step = 0

    def page_in(self, model):
        tree = model.parameters()
        for n in self.names:
            set_path(tree, n, mx.array(self.master[n]))
        model.update(tree)

    def apply(self, grads):
        self.step += 1
        lr = self.lr_fn(self.step - 1)
        c1 = 1 - self.b1 ** self.step
        c2 = 1 - self.b2 ** self.step
        for n in self.names:
            g = np.array(get_path(grads, n), dtype=np.float32)
            self.m[n] = self.b1 * self.m[n] + (1 - self.b1) * g
            self.v[n] = self.b2 * self.v[n] + (1 - self.b2) * g * g
            self.master[n] -= lr * (self.m[n] / c1) / (np.sqrt(self.v[n] / c2) + self.eps)
        return lr

    def save(self, path):
        blob = {"step": np.array(self.step)}
        for n in self.names:
            blob["w/" + n] = self.master[n]
            blob["m/" + n] = self.m[n]
            blob["v/" + n] = self.v[n]
        np.savez(path, **blob)

    def load(self, path):
        blob = np.load(path)
        self.step = int(blob["step"])
        for n in self.names:
            self.master[n] = blob["w/" + n].copy()
            self.m[n] = blob["m/" + n].copy()
            self.v[n] = blob["v/" + n].copy()


TOTAL_STEPS = 900
WARMUP = 60
PEAK_LR = 3e-3
BATCH = 128


def lr_at(step):
    # linear warm-up that starts from exactly 0, then cosine to 5% of peak
    if step < WARMUP:
        return PEAK_LR * step / WARMUP
    p = (step - WARMUP) / (TOTAL_STEPS - WARMUP)
    return PEAK_LR * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * p)))


def loss_fn(model, x, t):
    return nn.losses.mse_loss(model(x), t)


def valid_rmse_degc(model):
    pred = model(mx.array(x_va))
    err = (np.array(pred) - t_va) * y_sd
    return float(np.sqrt(np.mean(err ** 2)))


def run_session(first_step, last_step, ckpt_in=None, ckpt_out=None):
    model = RinkNet()
    opt = HostAdam(model.parameters(), lr_at)
    if ckpt_in is not None:
        opt.load(ckpt_in)
        print(f"resumed host state from {os.path.basename(ckpt_in)} at step {opt.step}")
    opt.page_in(model)
    vg = nn.value_and_grad(model, loss_fn)
    order = rng.permutation(N_TRAIN)
    pos = 0
    for step in range(first_step, last_step):
        if pos + BATCH > N_TRAIN:
            order, pos = rng.permutation(N_TRAIN), 0
        idx = order[pos:pos + BATCH]
        pos += BATCH
        loss, grads = vg(model, mx.array(x_tr[idx]), mx.array(t_tr[idx]))
        mx.eval(loss, grads)
        lr = opt.apply(grads)
        opt.page_in(model)
        if step % 75 == 0 or step == last_step - 1:
            print(f"step {step:4d}  lr {lr:.2e}  train mse(std) {loss.item():.4f}  "
                  f"valid rmse {valid_rmse_degc(model):.3f} C")
    if ckpt_out is not None:
        opt.save(ckpt_out)
        print(f"saved host state at step {opt.step} to {os.path.basename(ckpt_out)}")
    return model


t0 = time.time()
naive = float(np.sqrt(np.mean((y_va - y_mu) ** 2)))
print(f"rows: train {N_TRAIN}  valid {N_VALID}")
print(f"baseline (predict train mean) valid rmse {naive:.3f} C; thermometer noise {NOISE_SD:.3f} C")

with tempfile.TemporaryDirectory() as tmp:
    ck = os.path.join(tmp, "rink_host_state.npz")
    print("session 1")
    run_session(0, 450, ckpt_out=ck)
    print("session 2")
    model = run_session(450, TOTAL_STEPS, ckpt_in=ck)

final = valid_rmse_degc(model)
print(f"final valid rmse {final:.3f} C  (noise floor {NOISE_SD:.3f}, mean baseline {naive:.3f})")
print(f"elapsed {time.time() - t0:.1f} s")
