"""Ant foraging tracks: next-step offset model.

Each synthetic track is a worker ant seen by an overhead camera at 5 Hz.
A track is either circling to the left, circling to the right (search loops)
or walking home almost straight; now and then the ant pauses to tap the
ground. A GRU reads the offsets so far and emits a 4-component bivariate
Gaussian mixture (with correlation) for the next offset, plus a pause logit.

Training is split into two sittings: after epoch 4 the model and the
optimizer state go to disk, everything is rebuilt from the files and the
run carries on (the lr schedule continues from the saved step).
"""
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
K = 4
T = 32
SCALE = 2.0  # mm per unit
N_TRAIN, N_VAL = 1100, 250
BATCH = 64
EPOCHS = 8
SPLIT_AT = 4


def simulate(n, rng):
    mode = rng.choice(3, size=n, p=[0.35, 0.35, 0.30])
    omega = np.where(mode == 0, 0.30, np.where(mode == 1, -0.30, 0.0))
    theta = rng.uniform(-math.pi, math.pi, size=n)
    speed = rng.normal(2.0, 0.2, size=n).clip(1.4, 2.6)
    dx = np.zeros((n, T + 1), np.float32)
    dy = np.zeros((n, T + 1), np.float32)
    pause = np.zeros((n, T + 1), np.float32)
    for t in range(T + 1):
        p = rng.random(n) < 0.08
        theta = theta + np.where(p, 0.0, omega + rng.normal(0, 0.06, n))
        step_x = speed * np.cos(theta) + rng.normal(0, 0.05, n)
        step_y = speed * np.sin(theta) + rng.normal(0, 0.05, n)
        dx[:, t] = np.where(p, rng.normal(0, 0.1, n), step_x)
        dy[:, t] = np.where(p, rng.normal(0, 0.1, n), step_y)
        pause[:, t] = p
    seq = np.stack([dx / SCALE, dy / SCALE, pause], axis=-1).astype(np.float32)
    return seq  # (n, T+1, 3)


class TrailNet(nn.Module):
    def __init__(self, hidden=64, k=K):
        super().__init__()
        self.k = k
        self.inp = nn.Linear(3, 32)
        self.gru = nn.GRU(32, hidden)
        self.trunk = nn.Linear(hidden, 64)
        self.head = nn.Linear(64, k * 6 + 1)

    def __call__(self, x):
        h = self.gru(nn.silu(self.inp(x)))
        h = nn.silu(self.trunk(h))
        out = self.head(h)
        k = self.k
        logits = out[..., :k]
        mu = out[..., k:3 * k].reshape(*out.shape[:-1], k, 2)
        log_sig = mx.clip(out[..., 3 * k:5 * k], -6.0, 2.0).reshape(*out.shape[:-1], k, 2)
        rho = 0.95 * mx.tanh(out[..., 5 * k:6 * k])
        pause_logit = out[..., -1]
        return logits, mu, log_sig, rho, pause_logit


def mixture_logpdf(logits, mu, log_sig, rho, target):
    d = target[..., None, :] - mu  # (..., K, 2)
    sx, sy = mx.exp(log_sig[..., 0]), mx.exp(log_sig[..., 1])
    zx, zy = d[..., 0] / sx, d[..., 1] / sy
    one_m = 1.0 - rho * rho
    quad = (zx * zx + zy * zy - 2.0 * rho * zx * zy) / one_m
    comp = (-math.log(2 * math.pi) - log_sig[..., 0] - log_sig[..., 1]
            - 0.5 * mx.log(one_m) - 0.5 * quad)
    return mx.logsumexp(nn.log_softmax(logits, axis=-1) + comp, axis=-1)


def losses(model, seq):
    x, y = seq[:, :-1], seq[:, 1:]
    logits, mu, log_sig, rho, pl = model(x)
    nll = -mixture_logpdf(logits, mu, log_sig, rho, y[..., :2]).mean()
    bce = nn.losses.binary_cross_entropy(pl, y[..., 2], with_logits=True, reduction="mean")
    return nll, bce


def loss_fn(model, seq):
    nll, bce = losses(model, seq)
    return nll + bce, (nll, bce)


def hit_rate(model, seq, radius_mm=0.5):
    x, y = seq[:, :-1], seq[:, 1:]
    logits, mu, _, _, _ = model(x)
    best = mx.argmax(logits, axis=-1)
    pick = mx.take_along_axis(mu, best[..., None, None], axis=-2).squeeze(-2)
    err = mx.sqrt(((pick - y[..., :2]) ** 2).sum(-1)) * SCALE
    return (err < radius_mm).astype(mx.float32).mean().item() * 100.0


def signed(v):
    # field-notebook habit: a typographic minus sign
    return ("\u2212" if v < 0 else "+") + f"{abs(v):.3f}"


def make_optimizer(total_steps):
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, total_steps - warm, 1e-4)],
        [warm])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    train = simulate(N_TRAIN, rng)
    val = simulate(N_VAL, rng)
    val_mx = mx.array(val)

    # reference: one iid bivariate Gaussian for every offset, fitted on train
    off = train[:, 1:, :2].reshape(-1, 2)
    m, cov = off.mean(0), np.cov(off.T)
    vo = val[:, 1:, :2].reshape(-1, 2) - m
    inv, (_, logdet) = np.linalg.inv(cov), np.linalg.slogdet(cov)
    ref_nll = float(np.mean(0.5 * np.einsum("ni,ij,nj->n", vo, inv, vo) + 0.5 * logdet + math.log(2 * math.pi)))
    base_p = train[:, 1:, 2].mean()
    vp = val[:, 1:, 2]
    ref_bce = float(-np.mean(vp * math.log(base_p) + (1 - vp) * math.log(1 - base_p)))

    steps_per_epoch = N_TRAIN // BATCH
    total = steps_per_epoch * EPOCHS
    model = TrailNet()
    mx.eval(model.parameters())
    opt = make_optimizer(total)
    grad_fn = nn.value_and_grad(model, loss_fn)

    print(f"[ant-lab] {N_TRAIN} train / {N_VAL} val tracks of {T} steps, K={K}, "
          f"{sum(v.size for _, v in tree_flatten(model.trainable_parameters()))} params")
    print(f"[ant-lab] reference: iid-gauss offset nll {signed(ref_nll)} nats, "
          f"base-rate pause bce {ref_bce:.3f}")

    ckpt_dir = tempfile.mkdtemp()
    step = 0
    for epoch in range(1, EPOCHS + 1):
        if epoch == SPLIT_AT + 1:
            model.save_weights(os.path.join(ckpt_dir, "trail.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            del model, opt, grad_fn
            model = TrailNet()
            model.load_weights(os.path.join(ckpt_dir, "trail.safetensors"))
            opt = make_optimizer(total)
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            grad_fn = nn.value_and_grad(model, loss_fn)
            mx.eval(model.parameters(), opt.state)
            print(f"[ant-lab] -- second sitting: reloaded weights + optimizer "
                  f"(saved step {opt.state['step'].item()}) --")
        perm = rng.permutation(N_TRAIN)
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            batch = mx.array(train[idx])
            (loss, (nll, bce)), grads = grad_fn(model, batch)
            grads, gnorm = optim.clip_grad_norm(grads, 1.0)
            if step == 0:
                leaves = tree_flatten(grads)
                nz = sum(1 for _, g in leaves if mx.abs(g).max().item() > 0)
                print(f"[ant-lab] first step: {nz}/{len(leaves)} grad leaves non-zero, "
                      f"lr at update {opt.learning_rate.item():.1e}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
        if epoch % 2 == 0 or epoch == 1:
            vnll, vbce = losses(model, val_mx)
            hit = hit_rate(model, val_mx)
            print(f"[ant-lab] ep {epoch:02d} | step {step:04d} | \u03b7 {opt.learning_rate.item():.1e} | "
                  f"offset-nll {signed(nll.item())} / val {signed(vnll.item())} nats "
                  f"(iid ref {signed(ref_nll)}) | pause-bce {vbce.item():.3f} (ref {ref_bce:.3f}) | "
                  f"hit@0.5mm {hit:.1f}% | grad {gnorm.item():.2f} | {time.time() - t0:.1f}s")

    vnll, vbce = losses(model, val_mx)
    print(f"[ant-lab] done: val offset nll {signed(vnll.item())} nats vs iid {signed(ref_nll)}, "
          f"pause bce {vbce.item():.3f} vs {ref_bce:.3f}, {time.time() - t0:.1f}s")
    shutil.rmtree(ckpt_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
