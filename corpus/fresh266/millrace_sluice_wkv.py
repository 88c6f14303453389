"""Watermill log: predict the mill-pond level from the stream/sluice/wheel record.

A two-block RWKV-style model (token shift, time-mix with a per-channel decay and a
current-token bonus, channel-mix with squared ReLU) reads 24 quarter-hours of
4 logged inputs and predicts the standardised pond level at every step.

Training runs in two sessions: the first session stops at step 150 and writes a
checkpoint (weights + AdamW moments + step), the second session builds a fresh
model and optimizer, loads the checkpoint and continues to step 300.
"""

import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEQ = 24
N_IN = 4
DIM = 24
BATCH = 24
TOTAL_STEPS = 300
SESSION_ONE = 150
WARMUP = 30
PEAK_LR = 3e-3


def make_logbook(n, rng):
    """Synthetic logbook: rain-fed inflow, upstream sluice, wheel engaged, weir board."""
    rain = np.clip(rng.gamma(0.6, 1.0, size=(n, SEQ)) - 0.4, 0, None)
    inflow = np.zeros_like(rain)
    for t in range(SEQ):  # catchment lag: rain reaches the pond over a few steps
        prev = inflow[:, t - 1] if t > 0 else 0.0
        inflow[:, t] = 0.7 * prev + 0.3 * rain[:, t]
    sluice = (rng.random((n, SEQ)) < 0.35).astype(np.float64)
    wheel = np.zeros((n, SEQ))
    state = rng.random(n) < 0.5
    for t in range(SEQ):
        flip = rng.random(n) < 0.12
        state = np.where(flip, ~state, state)
        wheel[:, t] = state
    weir = rng.uniform(0.0, 1.0, size=(n, 1)) * np.ones((1, SEQ))

    level = np.zeros((n, SEQ))
    h = rng.normal(0.0, 0.3, size=n)
    for t in range(SEQ):
        h = (0.93 - 0.05 * weir[:, t]) * h + 0.9 * inflow[:, t] + 0.35 * sluice[:, t] - 0.3 * wheel[:, t]
        level[:, t] = h
    level = level + rng.normal(0.0, 0.05, size=level.shape)
    x = np.stack([rain, sluice, wheel, weir], axis=-1)
    return x.astype(np.float32), level.astype(np.float32)


def token_shift(x):
    # x[:, t] -> x[:, t-1], zeros at t=0
    return mx.concatenate([mx.zeros_like(x[:, :1]), x[:, :-1]], axis=1)


class TimeMix(nn.Module):
    def __init__(self, dim, layer_id, n_layers):
        super().__init__()
        ratio = layer_id / max(n_layers - 1, 1)
        ch = mx.arange(dim) / dim
        self.mix_k = 1.0 - ch ** (1.0 - 0.5 * ratio)
        self.mix_v = 1.0 - ch ** (1.0 - 0.5 * ratio) + 0.1
        self.mix_r = 1.0 - 0.5 * ch ** (1.0 - 0.5 * ratio)
        # decay speed per channel: w = -exp(decay), from fast to slow
        self.decay = -5.0 + 7.0 * ch ** (0.7 + 1.3 * ratio)
        self.bonus = mx.ones((dim,)) * math.log(0.3)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        self.receptance = nn.Linear(dim, dim, bias=False)
        self.output = nn.Linear(dim, dim, bias=False)

    def wkv(self, k, v):
        # parallel form of the WKV recurrence as a masked softmax over past steps
        B, T, C = k.shape
        w = -mx.exp(self.decay)  # (C,), negative
        t_idx = mx.arange(T)
        lag = (t_idx[:, None] - 1 - t_idx[None, :]).astype(mx.float32)  # (T, T)
        past = t_idx[:, None] > t_idx[None, :]
        now = t_idx[:, None] == t_idx[None, :]
        # exponent[b, t, i, c]
        e_past = lag[None, :, :, None] * w + k[:, None, :, :]
        e_now = self.bonus + k[:, None, :, :]
        expo = mx.where(past[None, :, :, None], e_past, mx.where(now[None, :, :, None], e_now, -1e30))
        weights = mx.softmax(expo, axis=2)
        return mx.sum(weights * v[:, None, :, :], axis=2)

    def __call__(self, x):
        xx = token_shift(x)
        xk = x * self.mix_k + xx * (1 - self.mix_k)
        xv = x * self.mix_v + xx * (1 - self.mix_v)
        xr = x * self.mix_r + xx * (1 - self.mix_r)
        k = self.key(xk)
        v = self.value(xv)
        r = mx.sigmoid(self.receptance(xr))
        return self.output(r * self.wkv(k, v))


class ChannelMix(nn.Module):
    def __init__(self, dim, layer_id, n_layers):
        super().__init__()
        ratio = layer_id / max(n_layers - 1, 1)
        ch = mx.arange(dim) / dim
        self.mix_k = 1.0 - ch ** (1.0 - 0.5 * ratio)
        self.mix_r = 1.0 - ch ** (1.0 - 0.5 * ratio)
        self.key = nn.Linear(dim, 2 * dim, bias=False)
        self.value = nn.Linear(2 * dim, dim, bias=False)
        self.receptance = nn.Linear(dim, dim, bias=False)

    def __call__(self, x):
        xx = token_shift(x)
        xk = x * self.mix_k + xx * (1 - self.mix_k)
        xr = x * self.mix_r + xx * (1 - self.mix_r)
        k = mx.square(nn.relu(self.key(xk)))
        return mx.sigmoid(self.receptance(xr)) * self.value(k)


class Block(nn.Module):
    def __init__(self, dim, layer_id, n_layers):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.ln2 = nn.LayerNorm(dim)
        self.att = TimeMix(dim, layer_id, n_layers)
        self.ffn = ChannelMix(dim, layer_id, n_layers)

    def __call__(self, x):
        x = x + self.att(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class PondModel(nn.Module):
    def __init__(self, n_in, dim, n_layers=2):
        super().__init__()
        self.inp = nn.Linear(n_in, dim)
        self.ln0 = nn.LayerNorm(dim)
        self.blocks = [Block(dim, i, n_layers) for i in range(n_layers)]
        self.ln_out = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 1)

    def __call__(self, x):
        h = self.ln0(self.inp(x))
        for b in self.blocks:
            h = b(h)
        return self.head(self.ln_out(h)).squeeze(-1)


def loss_fn(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def make_schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    cos = optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 1e-4)
    return optim.join_schedules([warm, cos], [WARMUP])


def val_mse(model, xv, yv):
    return mx.mean(mx.square(model(xv) - yv)).item()


def run_session(model, opt, start, stop, xtr, ytr, xv, yv, rng):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, n, size=BATCH))
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        # quiet in the middle of each session, denser near its edges
        if step < start + 5 or step % 100 == 0 or step == stop - 1:
            lr = opt.learning_rate.item()
            print(f"step {step:4d}  lr {lr:.2e}  train mse {loss.item():.4f}  val mse {val_mse(model, xv, yv):.4f}")


def main():
    t0 = time.time()
    mx.random.seed(3)
    rng = np.random.default_rng(11)
    x_np, y_np = make_logbook(2200, rng)
    mu, sd = y_np.mean(), y_np.std()
    y_np = (y_np - mu) / sd
    xtr, ytr = mx.array(x_np[:2000]), mx.array(y_np[:2000])
    xv, yv = mx.array(x_np[2000:]), mx.array(y_np[2000:])

    # baselines: constant mean, and per-step least squares on the current inputs only
    mean_mse = float(np.mean((y_np[2000:] - y_np[:2000].mean()) ** 2))
    A = np.concatenate([x_np[:2000].reshape(-1, N_IN), np.ones((2000 * SEQ, 1))], axis=1)
    coef, *_ = np.linalg.lstsq(A, y_np[:2000].reshape(-1), rcond=None)
    Av = np.concatenate([x_np[2000:].reshape(-1, N_IN), np.ones((200 * SEQ, 1))], axis=1)
    memoryless_mse = float(np.mean((Av @ coef - y_np[2000:].reshape(-1)) ** 2))
    noise_floor = (0.05 / sd) ** 2
    print(f"baselines: mean {mean_mse:.4f}  memoryless lstsq {memoryless_mse:.4f}  noise floor {noise_floor:.4f}")

    ckpt_dir = tempfile.mkdtemp(None, "millrace_")
    # ---- session one ----
    model = PondModel(N_IN, DIM)
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=0.01)
    opt.init(model.trainable_parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"session 1: {n_params} parameters, steps 0..{SESSION_ONE - 1}")
    run_session(model, opt, 0, SESSION_ONE, xtr, ytr, xv, yv, rng)
    saved_val = val_mse(model, xv, yv)
    mx.save_safetensors(os.path.join(ckpt_dir, "weights.safetensors"), dict(tree_flatten(model.parameters())))
    mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint written at step {SESSION_ONE}: val mse {saved_val:.4f}")
    del model, opt

    # ---- session two: fresh objects, restore, continue ----
    model = PondModel(N_IN, DIM)
    model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=0.01)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optimizer.safetensors")).items()))
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters())
    restored_val = val_mse(model, xv, yv)
    print(f"session 2: restored step {int(opt.state['step'].item())}, val mse {restored_val:.4f} (saved {saved_val:.4f})")
    run_session(model, opt, SESSION_ONE, TOTAL_STEPS, xtr, ytr, xv, yv, rng)

    final = val_mse(model, xv, yv)
    print(f"final val mse {final:.4f}  vs memoryless {memoryless_mse:.4f}  vs mean {mean_mse:.4f}")
    decays = [mx.exp(-mx.exp(b.att.decay)) for b in model.blocks]
    print("per-step retention factor range per block: "
          + "  ".join(f"[{d.min().item():.3f}, {d.max().item():.3f}]" for d in decays))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
