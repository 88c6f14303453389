"""Heliostat field: mirror pointing error (mrad) from six field readings.

Every random draw in training (batch indices, input jitter, dropout masks)
comes from an explicit key chain, so a run cut at a checkpoint and resumed
from disk replays the remaining steps exactly.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_TRAIN, N_VALID, N_FEAT = 4000, 800, 6
NOISE_SD = 0.35          # sensor noise on the target, in mrad
STEPS, CUT, EVERY = 600, 300, 50
BATCH = 128


def make_field(key, n):
    kx, kn = mx.random.split(key)
    x = mx.random.normal((n, N_FEAT), key=kx)
    # wind, sun elevation, mirror temperature, slant range, drive backlash, tilt
    wind, elev, temp, rng, lash, tilt = [x[:, i] for i in range(N_FEAT)]
    y = (1.2 * mx.tanh(wind) + 0.8 * elev * rng - 0.5 * temp ** 2 + 0.9 * mx.abs(lash)
         + 0.4 * mx.sin(2.0 * tilt) + 1.5)
    y = y + NOISE_SD * mx.random.normal((n,), key=kn)
    return x, y[:, None]


class PointingNet(nn.Module):
    def __init__(self, width=64, p_drop=0.1):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)
        self.keep = 1.0 - p_drop

    def __call__(self, x, drop_key=None):
        h = nn.gelu(self.l1(x))
        if drop_key is not None:
            k1, k2 = mx.random.split(drop_key)
            h = h * mx.random.bernoulli(self.keep, h.shape, key=k1) / self.keep
            h = nn.gelu(self.l2(h))
            h = h * mx.random.bernoulli(self.keep, h.shape, key=k2) / self.keep
        else:
            h = nn.gelu(self.l2(h))
        return self.out(h)


def loss_fn(model, xb, yb, drop_key):
    return nn.losses.mse_loss(model(xb, drop_key), yb)


def schedule():
    warm = optim.linear_schedule(0.0, 4e-3, 60)
    cos = optim.cosine_decay(4e-3, STEPS - 60, 2e-4)
    return optim.join_schedules([warm, cos], [60])


def build(seed):
    mx.random.seed(seed)
    model = PointingNet()
    opt = optim.Adamax(learning_rate=schedule())
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.state)
    return model, opt


def train_steps(model, opt, key, xs, ys, start, stop, xv, yv, log):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        key, k_idx, k_jit, k_drop = mx.random.split(key, 4)
        idx = mx.random.randint(0, N_TRAIN, (BATCH,), key=k_idx)
        xb = xs[idx] + 0.05 * mx.random.normal((BATCH, N_FEAT), key=k_jit)
        loss, grads = step_fn(model, xb, ys[idx], k_drop)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, key)
        if log and (step + 1) % EVERY == 0:
            val = nn.losses.mse_loss(model(xv), yv).item()
            lr = opt.learning_rate.item()
            print(f"[step {step + 1:04d}]")
            print(f"  lr         = {lr:.5f}")
            print(f"  batch_mse  = {loss.item():.4f}")
            print(f"  valid_mse  = {val:.4f}   (noise floor {NOISE_SD ** 2:.4f})")
            print(f"  valid_rmse = {val ** 0.5:.3f} mrad")
    return key


def save_ckpt(path, model, opt, key, step):
    model.save_weights(os.path.join(path, "model.safetensors"))
    flat = dict(tree_flatten(opt.state))
    flat["__key__"] = key
    flat["__step__"] = mx.array(step)
    mx.save_safetensors(os.path.join(path, "opt.safetensors"), flat)


def load_ckpt(path):
    model, opt = build(seed=999)  # different init on purpose: everything comes from disk
    model.load_weights(os.path.join(path, "model.safetensors"))
    flat = mx.load(os.path.join(path, "opt.safetensors"))
    key = flat.pop("__key__")
    step = flat.pop("__step__").item()
    opt.state = tree_unflatten(list(flat.items()))
    mx.eval(model.parameters(), opt.state)
    return model, opt, key, step


def main():
    t0 = time.time()
    data_key = mx.random.key(2024)
    k_tr, k_va = mx.random.split(data_key)
    xs, ys = make_field(k_tr, N_TRAIN)
    xv, yv = make_field(k_va, N_VALID)
    base = nn.losses.mse_loss(mx.broadcast_to(ys.mean(), yv.shape), yv).item()
    print("[field]")
    print(f"  train = {N_TRAIN}, valid = {N_VALID}, features = {N_FEAT}")
    print(f"  predict-the-mean valid_mse = {base:.4f}")

    model, opt = build(seed=7)
    key = mx.random.key(11)
    g = nn.value_and_grad(model, loss_fn)(model, xs[:BATCH], ys[:BATCH], None)[1]
    norms = [mx.linalg.norm(v).item() for _, v in tree_flatten(g)]
    print("[grad_audit]")
    print(f"  leaves = {len(norms)}, smallest norm = {min(norms):.2e}")

    key = train_steps(model, opt, key, xs, ys, 0, CUT, xv, yv, log=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_ckpt(tmp, model, opt, key, CUT)
        print("[checkpoint]")
        print(f"  saved at step {CUT}; continuing the live run")
        key = train_steps(model, opt, key, xs, ys, CUT, STEPS, xv, yv, log=True)
        live = dict(tree_flatten(model.parameters()))

        model_b, opt_b, key_b, step_b = load_ckpt(tmp)
        print("[replay]")
        print(f"  rebuilt from disk at step {step_b}, replaying {STEPS - step_b} steps silently")
        train_steps(model_b, opt_b, key_b, xs, ys, step_b, STEPS, xv, yv, log=False)
        replay = dict(tree_flatten(model_b.parameters()))
    diff = max(mx.max(mx.abs(live[k] - replay[k])).item() for k in live)
    val_b = nn.losses.mse_loss(model_b(xv), yv).item()
    print(f"  max |w_live - w_replay| = {diff:.3e}")
    print(f"  replay valid_mse = {val_b:.4f}")
    print("[done]")
    print(f"  seconds = {time.time() - t0:.1f}")


if __name__ == "__main__":
    main()
