"""Bindery: put shuffled folios of a book signature back in reading order.

Each signature has 8 folios; each folio is described by a noisy 6-number
reading (page-number ink blot, ruling wear, sewing-hole offset, ...), all of
which drift smoothly with the folio's true position. A small scorer maps every
folio to 8 position logits; a log-domain Sinkhorn (Gumbel-Sinkhorn) turns the
8x8 logit matrix into a soft permutation, and the loss is the squared error
between the soft-reordered folio positions and 0..7.

Schedule: linear warm-up of the learning rate from exactly 0, then three
temperature stages (tau 1.0 -> 0.5 -> 0.25). Halfway through the run the model
and optimizer state are written to disk, a fresh model is built and the state
is read back, and training continues from there.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N = 8          # folios per signature
F = 6          # readings per folio
BATCH = 64
STEPS = 900
WARMUP = 120
LOG_EVERY = 150
SINK_ITERS = 20

rng = np.random.default_rng(355)
W_true = rng.normal(size=(F,)).astype(np.float32)
B_true = rng.normal(size=(F,)).astype(np.float32)


def make_signatures(n, rng):
    pos = np.arange(N, dtype=np.float32) / (N - 1)          # 0..1
    base = np.sin(2.2 * pos[:, None] * W_true[None, :] + B_true[None, :])
    x = base[None] + 0.08 * rng.normal(size=(n, N, F)).astype(np.float32)
    x += 0.3 * rng.normal(size=(n, 1, F)).astype(np.float32)   # per-book offset
    perm = np.stack([rng.permutation(N) for _ in range(n)])     # shelf order
    xs = np.take_along_axis(x, perm[:, :, None], axis=1)
    return xs.astype(np.float32), perm.astype(np.int32)          # perm[i]=true pos of slot i


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(2 * F, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, N)

    def __call__(self, x):
        ctx = mx.broadcast_to(mx.mean(x, axis=1, keepdims=True), x.shape)
        h = self.enc(mx.concatenate([x, x - ctx], axis=-1))
        return self.head(h)                                      # (B, slot, position)


def log_sinkhorn(log_alpha, iters):
    for _ in range(iters):
        log_alpha = log_alpha - mx.logsumexp(log_alpha, axis=2, keepdims=True)
        log_alpha = log_alpha - mx.logsumexp(log_alpha, axis=1, keepdims=True)
    return log_alpha


def loss_fn(model, x, perm, tau, key):
    logits = model(x)
    u = mx.random.uniform(low=1e-6, high=1.0 - 1e-6, shape=logits.shape, key=key)
    gumbel = -mx.log(-mx.log(u))
    P = mx.exp(log_sinkhorn((logits + 0.3 * gumbel) / tau, SINK_ITERS))
    true_pos = perm.astype(mx.float32)                           # (B, slot)
    pred_pos = mx.sum(P * mx.arange(N, dtype=mx.float32)[None, None, :], axis=2)
    return mx.mean((pred_pos - true_pos) ** 2)


def slot_accuracy(model, x, perm):
    logits = model(x)
    P = mx.exp(log_sinkhorn(logits / 0.05, 60))
    guess = mx.argmax(P, axis=2)
    slot_acc = mx.mean((guess == perm).astype(mx.float32)).item()
    whole = mx.mean(mx.all(guess == perm, axis=1).astype(mx.float32)).item()
    return slot_acc, whole


def tau_for(step):
    if step < 300:
        return 1.0
    if step < 600:
        return 0.5
    return 0.25


def lr_for(step):
    peak = 3e-3
    return peak * min(step / WARMUP, 1.0)


def build():
    model = Scorer()
    opt = optim.Adam(learning_rate=0.0)
    return model, opt


def main():
    mx.random.seed(7)
    xtr, ptr = make_signatures(6000, rng)
    xva, pva = make_signatures(800, rng)
    xtr, ptr, xva, pva = map(mx.array, (xtr, ptr, xva, pva))

    model, opt = build()
    mx.eval(model.parameters())
    acc0, whole0 = slot_accuracy(model, xva, pva)
    print(f"shuffled shelf baseline: slot acc 1/{N} = {1 / N:.3f} | untrained scorer slot acc {acc0:.3f} whole {whole0:.3f}")

    step_fn = nn.value_and_grad(model, loss_fn)
    ckpt_dir = tempfile.mkdtemp("_bindery")
    key = mx.random.key(11)
    t0 = time.perf_counter()
    running = []
    step = 0
    while step < STEPS:
        if step == STEPS // 2:
            mx.save_safetensors(os.path.join(ckpt_dir, "scorer.safetensors"), dict(tree_flatten(model.parameters())))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
            model, opt = build()
            model.load_weights(os.path.join(ckpt_dir, "scorer.safetensors"))
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            step_fn = nn.value_and_grad(model, loss_fn)
            acc_r, _ = slot_accuracy(model, xva, pva)
            print(f"-- resumed from {ckpt_dir} at step {step}, opt step {int(opt.state['step'])}, val slot acc {acc_r:.3f}")
        idx = mx.array(np.random.default_rng(step).integers(0, xtr.shape[0], BATCH))
        key, sub = mx.random.split(key)
        opt.learning_rate = lr_for(step)
        loss, grads = step_fn(model, xtr[idx], ptr[idx], tau_for(step), sub)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        step += 1
        if step % LOG_EVERY == 0:
            acc, whole = slot_accuracy(model, xva, pva)
            print(f"step {step:4d} tau {tau_for(step - 1):.2f} lr {lr_for(step - 1):.2e} "
                  f"sq-pos-err {np.mean(running):.4f} | val slot acc {acc:.3f} whole {whole:.3f} (baseline {1 / N:.3f})")
            running = []
    acc, whole = slot_accuracy(model, xva, pva)
    print(f"final: val slot acc {acc:.3f}, whole signatures right {whole:.3f}, "
          f"shuffled baseline {1 / N:.3f}, {time.perf_counter() - t0:.1f}s")
    shutil.rmtree(ckpt_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
