# Fungarium spore-print measurements -> embedding for identifying specimens of
# species that were never in the training cabinet. Proxy-Anchor loss (Kim et al. 2020),
# AdamW with cosine warm restarts (proxies on their own AdamW at 10x lr); the run is split into two sessions with a checkpoint
# written to disk in between and read back into fresh objects.
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

FEAT, LATENT, EMB = 16, 5, 24
SEEN, UNSEEN, PER_SPECIES = 60, 20, 40
SESSION_STEPS, P, K = 300, 12, 8
ALPHA, DELTA = 32.0, 0.1


def specimens(n_species, per, rng, W):
    centres = rng.normal(size=(n_species, LATENT))
    y = np.repeat(np.arange(n_species), per)
    z = centres[y] + 0.45 * rng.normal(size=(len(y), LATENT))
    x = np.tanh(z @ W) + 0.05 * rng.normal(size=(len(y), FEAT))
    x[:, :6] += 1.5 * rng.normal(size=(len(y), 6))  # lighting / paper-colour nuisance
    return x.astype(np.float32), y.astype(np.int32)


class SporeNet(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(FEAT, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU(), nn.Linear(96, EMB))
        self.proxies = mx.random.normal((n_classes, EMB))

    def __call__(self, x):
        e = self.body(x)
        return e / mx.linalg.norm(e, axis=-1, keepdims=True)


def proxy_anchor(model, x, y):
    e = model(x)
    p = model.proxies / mx.linalg.norm(model.proxies, axis=-1, keepdims=True)
    cos = e @ p.T
    pos = y[:, None] == mx.arange(p.shape[0])[None, :]
    pos_sum = mx.where(pos, mx.exp(-ALPHA * (cos - DELTA)), 0.0).sum(axis=0)
    neg_sum = mx.where(pos, 0.0, mx.exp(ALPHA * (cos + DELTA))).sum(axis=0)
    has_pos = pos.any(axis=0)
    pos_term = mx.where(has_pos, mx.log1p(pos_sum), 0.0).sum() / has_pos.sum()
    neg_term = mx.log1p(neg_sum).mean()
    return pos_term + neg_term


def recall_at_1(model, x, y):
    e = np.array(model(x))
    s = e @ e.T
    np.fill_diagonal(s, -np.inf)
    return 100.0 * (y[s.argmax(axis=1)] == y).mean()


def sgdr(lr_max, lr_min, period):
    def f(step):
        t = (step % period).astype(mx.float32) / period
        return lr_min + 0.5 * (lr_max - lr_min) * (1 + mx.cos(math.pi * t))
    return f


def make_opt():
    body = optim.AdamW(learning_rate=sgdr(2e-3, 5e-5, SESSION_STEPS), weight_decay=1e-4)
    prox = optim.AdamW(learning_rate=sgdr(2e-2, 5e-4, SESSION_STEPS), weight_decay=0.0)
    return optim.MultiOptimizer([prox, body], [lambda name, w: name.startswith("proxies")])


def pk_batch(rng, y):
    cls = rng.choice(SEEN, size=P, replace=False)
    idx = np.concatenate([rng.choice(np.where(y == c)[0], size=K, replace=False) for c in cls])
    return mx.array(idx)


def run_session(model, opt, tr, te, rng, first_step, t0):
    tr_x, tr_y, tr_y_np = tr
    te_x, te_y = te
    loss_and_grad = nn.value_and_grad(model, proxy_anchor)
    window = []
    for i in range(SESSION_STEPS):
        step = first_step + i
        idx = pk_batch(rng, tr_y_np)
        loss, grads = loss_and_grad(model, tr_x[idx], tr_y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 60 == 0:
            print(f"[step {step:3d}] lr={opt.optimizers[1].learning_rate.item():.2e} proxy_anchor={np.mean(window):.3f} "
                  f"unseen_r@1={recall_at_1(model, te_x, te_y):.1f}% t={time.perf_counter() - t0:.1f}s")
            window = []


def main():
    rng = np.random.default_rng(11)
    W = rng.normal(size=(LATENT, FEAT)) / math.sqrt(LATENT)
    tr_x, tr_y = specimens(SEEN, PER_SPECIES, rng, W)
    te_x, te_y = specimens(UNSEEN, 20, rng, W)
    tr = (mx.array(tr_x), mx.array(tr_y), tr_y)
    te = (mx.array(te_x), te_y)
    chance = 100.0 * 19 / (len(te_y) - 1)
    raw = te_x @ te_x.T
    np.fill_diagonal(raw, -np.inf)
    print(f"cabinet: {SEEN} species x {PER_SPECIES} prints; held-out {UNSEEN} unseen species x 20")
    print(f"baselines: chance r@1 {chance:.1f}%, raw-feature dot-product r@1 {100 * (te_y[raw.argmax(1)] == te_y).mean():.1f}%")

    mx.random.seed(11)
    model = SporeNet(SEEN)
    opt = make_opt()
    print(f"untrained unseen r@1 {recall_at_1(model, te[0], te_y):.1f}%")
    t0 = time.perf_counter()
    run_session(model, opt, tr, te, rng, 1, t0)

    with tempfile.TemporaryDirectory() as d:
        wpath, opath = os.path.join(d, "spore.npz"), os.path.join(d, "spore_opt.npz")
        model.save_weights(wpath)
        mx.savez(opath, **dict(tree_flatten(opt.state)))
        print(f"checkpoint written after step {opt.optimizers[1].step.item()} ({os.path.getsize(wpath) // 1024} KiB weights)")
        del model, opt
        model = SporeNet(SEEN)
        model.load_weights(wpath)
        opt = make_opt()
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        print(f"resumed into fresh objects at step {opt.optimizers[1].step.item()}, unseen r@1 {recall_at_1(model, te[0], te_y):.1f}% "
              f"(lr restarts at {2e-3:.0e})")
    run_session(model, opt, tr, te, rng, SESSION_STEPS + 1, t0)

    p = np.array(model.proxies / mx.linalg.norm(model.proxies, axis=-1, keepdims=True))
    seen_acc = 100.0 * (np.argmax(np.array(model(tr[0])) @ p.T, axis=1) == tr_y).mean()
    print(f"done: unseen r@1 {recall_at_1(model, te[0], te_y):.1f}% (chance {chance:.1f}%), "
          f"seen-species nearest-proxy accuracy {seen_acc:.1f}%, {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
