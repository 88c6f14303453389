"""Lime kiln burn-zone temperature, 4 readings ahead.

Inputs: 16 past readings of (fuel feed, draught fan, burn-zone temperature).
Model: a tiny transformer encoder whose normalisation layers are DyT
(gamma * tanh(alpha * x) + beta, no statistics) and whose attention applies
an RMSNorm to queries and keys per head.  Training runs in two sessions: the
first one writes weights and optimizer state to disk, the second one rebuilds
everything from scratch, reloads and carries on the same schedule.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
L, H = 16, 4
NOISE_C = 6.0  # thermocouple noise, deg C


def simulate(n):
    t = np.arange(L + H + 40)
    out_x, out_y = [], []
    for _ in range(n):
        fuel = 1.0 + 0.3 * np.sin(2 * np.pi * (t + rng.uniform(0, 60)) / rng.uniform(25, 45))
        fuel += rng.normal(0, 0.05, size=t.size)
        fan = np.clip(0.6 + 0.2 * np.sign(np.sin(2 * np.pi * (t + rng.uniform(0, 60)) / 30.0)), 0.2, 1.0)
        temp = np.empty(t.size)
        temp[0] = rng.uniform(880, 980)
        for k in range(1, t.size):
            drive = 900 + 180 * fuel[k - 3 if k >= 3 else 0] - 120 * (fan[k - 1] - 0.6) ** 2 * 10
            temp[k] = temp[k - 1] + 0.15 * (drive - temp[k - 1])
        meas = temp + rng.normal(0, NOISE_C, size=t.size)
        s = rng.integers(0, t.size - L - H)
        out_x.append(np.stack([fuel[s:s + L], fan[s:s + L], meas[s:s + L]], axis=1))
        out_y.append(temp[s + L:s + L + H] + rng.normal(0, NOISE_C, size=H))
    return np.array(out_x, np.float32), np.array(out_y, np.float32)


x_tr, y_tr = simulate(2000)
x_va, y_va = simulate(400)
mu_x, sd_x = x_tr.reshape(-1, 3).mean(0), x_tr.reshape(-1, 3).std(0)
mu_t, sd_t = y_tr.mean(), y_tr.std()
xs_tr, xs_va = (x_tr - mu_x) / sd_x, (x_va - mu_x) / sd_x
ys_tr, ys_va = (y_tr - mu_t) / sd_t, (y_va - mu_t) / sd_t
persist_rmse = float(np.sqrt(np.mean((y_va - x_va[:, -1:, 2]) ** 2)))


class DyT(nn.Module):
    def __init__(self, dims, alpha0=0.5):
        super().__init__()
        self.alpha = mx.array([alpha0])
        self.weight = mx.ones((dims,))
        self.bias = mx.zeros((dims,))

    def __call__(self, x):
        return self.weight * mx.tanh(self.alpha * x) + self.bias


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.hd = d // heads
        self.n1 = DyT(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.qn = nn.RMSNorm(self.hd)
        self.kn = nn.RMSNorm(self.hd)
        self.proj = nn.Linear(d, d)
        self.n2 = DyT(d)
        self.ff1 = nn.Linear(d, 2 * d)
        self.ff2 = nn.Linear(2 * d, d)

    def __call__(self, x):
        B, T, D = x.shape
        h = self.n1(x)
        q, k, v = mx.split(self.qkv(h), 3, axis=-1)
        q = self.qn(q.reshape(B, T, self.heads, self.hd)).transpose(0, 2, 1, 3)
        k = self.kn(k.reshape(B, T, self.heads, self.hd)).transpose(0, 2, 1, 3)
        v = v.reshape(B, T, self.heads, self.hd).transpose(0, 2, 1, 3)
        a = mx.softmax((q @ k.transpose(0, 1, 3, 2)) * self.hd ** -0.5, axis=-1) @ v
        x = x + self.proj(a.transpose(0, 2, 1, 3).reshape(B, T, D))
        return x + self.ff2(nn.gelu(self.ff1(self.n2(x))))


class KilnNet(nn.Module):
    def __init__(self, d=24, heads=4, depth=2):
        super().__init__()
        self.embed = nn.Linear(3, d)
        self.pos = mx.random.normal((L, d)) * 0.02
        self.blocks = [Block(d, heads) for _ in range(depth)]
        self.out_norm = DyT(d)
        self.head = nn.Linear(d, H)

    def __call__(self, x):
        h = self.embed(x) + self.pos
        for b in self.blocks:
            h = b(h)
        return self.head(self.out_norm(h[:, -1]))


TOTAL, WARM, BS = 360, 30, 32
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, 5e-5)], [WARM])


def build():
    mx.random.seed(3)
    m = KilnNet()
    mx.eval(m.parameters())
    return m, optim.AdamW(learning_rate=sched, weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


def val_rmse_c(m):
    pred = m(mx.array(xs_va))
    return float(mx.sqrt(mx.mean((pred * sd_t + mu_t - mx.array(y_va)) ** 2)).item())


def alphas(m):
    return [round(float(b.n1.alpha.item()), 3) for b in m.blocks] + [round(float(m.out_norm.alpha.item()), 3)]


def run(m, opt, start, stop, report_at):
    vg = nn.value_and_grad(m, loss_fn)
    window = []
    for step in range(start, stop):
        idx = rng.integers(0, len(xs_tr), size=BS)
        loss, g = vg(m, mx.array(xs_tr[idx]), mx.array(ys_tr[idx]))
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state, loss)
        window.append(loss.item())
        if step + 1 in report_at:
            print(f"  step {step+1:4d} | lr {opt.learning_rate.item():.2e} | train_mse(std) {np.mean(window):.4f} "
                  f"| val_rmse {val_rmse_c(m):6.2f} C | persistence {persist_rmse:6.2f} C | noise floor {NOISE_C:.1f} C "
                  f"| dyt_alpha {alphas(m)}")
            window = []


print(f"windows: train {len(xs_tr)}  val {len(xs_va)}  (L={L}, horizon={H})")
print(f"lr schedule: {sched(mx.array(0)).item():.1e} at step 0 -> 2e-3 at step {WARM} -> cosine to 5e-5 at {TOTAL}")
t0 = time.time()
ckpt = tempfile.mkdtemp()

print("session A")
model, opt = build()
print(f"  step    0 | val_rmse {val_rmse_c(model):6.2f} C before any update | persistence {persist_rmse:6.2f} C")
run(model, opt, 0, 160, {40, 80, 120, 160})
model.save_weights(os.path.join(ckpt, "w.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
saved_val = val_rmse_c(model)
print(f"  saved at optimizer step {int(opt.state['step'].item())}, val_rmse {saved_val:.2f} C")
del model, opt

print("session B")
model, opt = build()
model.load_weights(os.path.join(ckpt, "w.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
print(f"  restored optimizer step {int(opt.state['step'].item())}, val_rmse {val_rmse_c(model):.2f} C "
      f"(was {saved_val:.2f}), lr {opt.learning_rate.item():.2e}")
run(model, opt, 160, TOTAL, {260, TOTAL})
print(f"done in {time.time()-t0:.1f}s  final val_rmse {val_rmse_c(model):.2f} C vs persistence {persist_rmse:.2f} C")
