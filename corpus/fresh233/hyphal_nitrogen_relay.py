"""Mycelium network study: predict nitrogen load (mg/g) at every junction of a
fungal hyphal network from local substrate readings and what the neighbours carry.

Edge-list message passing with segment sums (.at[].add), graphs packed into one
batch with node offsets, Adam with a linear warm-up that starts at lr 0, and a
two-session run: session 1 saves weights + optimizer state, session 2 reloads
them into fresh objects and continues.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
F = 5
A_W = rng.normal(0, 0.7, F)
B_W = rng.normal(0, 0.7, F)


def neighbour_mean_np(v, src, dst, n):
    s = np.zeros(n)
    np.add.at(s, dst, v[src])
    deg = np.zeros(n)
    np.add.at(deg, dst, 1.0)
    return s / np.maximum(deg, 1.0)


def make_network():
    n = int(rng.integers(10, 31))
    parent = np.array([int(rng.integers(0, i)) for i in range(1, n)])
    child = np.arange(1, n)
    src = np.concatenate([parent, child])
    dst = np.concatenate([child, parent])
    x = rng.normal(0, 1, (n, F)).astype(np.float32)
    h1 = neighbour_mean_np(x @ B_W, src, dst, n)
    y = np.tanh(x @ A_W) + 0.8 * h1 + 0.4 * neighbour_mean_np(h1, src, dst, n)
    y = y + rng.normal(0, 0.1, n)
    return x, src, dst, y.astype(np.float32)


def pack(nets):
    xs, ss, ds, ys, off = [], [], [], [], 0
    for x, s, d, y in nets:
        xs.append(x); ys.append(y); ss.append(s + off); ds.append(d + off)
        off += len(x)
    return (mx.array(np.concatenate(xs)), mx.array(np.concatenate(ss)),
            mx.array(np.concatenate(ds)), mx.array(np.concatenate(ys)))


class Relay(nn.Module):
    def __init__(self, hidden=48, rounds=2):
        super().__init__()
        self.embed = nn.Linear(F, hidden)
        self.msg = [nn.Linear(hidden, hidden) for _ in range(rounds)]
        self.upd = [nn.Linear(2 * hidden, hidden) for _ in range(rounds)]
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x, src, dst):
        n = x.shape[0]
        h = nn.silu(self.embed(x))
        deg = mx.zeros((n,)).at[dst].add(mx.ones(dst.shape))
        deg = mx.maximum(deg, 1.0)[:, None]
        for m, u in zip(self.msg, self.upd):
            agg = mx.zeros_like(h).at[dst].add(m(h)[src]) / deg
            h = h + nn.silu(u(mx.concatenate([h, agg], axis=1)))
        return self.head(h).squeeze(-1)


def loss_fn(model, x, s, d, y):
    return nn.losses.huber_loss(model(x, s, d), y, delta=0.5, reduction="mean")


train_nets = [make_network() for _ in range(480)]
val = pack([make_network() for _ in range(120)])
nodes = sum(len(t[0]) for t in train_nets)

# reference: a per-node least-squares fit on own + neighbour-mean features
xv, sv, dv, yv = [np.array(a) for a in val]
def lin_feats(x, s, d):
    n = len(x)
    nb = np.stack([neighbour_mean_np(x[:, k], s, d, n) for k in range(F)], 1)
    return np.concatenate([x, nb, np.ones((n, 1))], 1)
tx, ts, td, ty = [np.array(a) for a in pack(train_nets)]
coef, *_ = np.linalg.lstsq(lin_feats(tx, ts, td), ty, rcond=None)
ref_mae = float(np.mean(np.abs(lin_feats(xv, sv, dv) @ coef - yv)))
mean_mae = float(np.mean(np.abs(yv - ty.mean())))

TOTAL, HALF, WARM, BATCH = 1200, 600, 150, 16
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, 1e-5)],
    [WARM])


def evaluate(model):
    p = model(*val[:3])
    mae = mx.mean(mx.abs(p - val[3]))
    within = mx.mean((mx.abs(p - val[3]) < 0.25).astype(mx.float32)) * 100
    return mae.item(), within.item()


def run_session(tag, start, stop, ckpt, log):
    model = Relay()
    opt = optim.Adam(learning_rate=schedule)
    if start > 0:
        model.load_weights(os.path.join(ckpt, "relay.safetensors"))
        state = mx.load(os.path.join(ckpt, "adam.safetensors"))
        opt.state = tree_unflatten(list(state.items()))
        with open(os.path.join(ckpt, "meta.json")) as fh:
            meta = json.load(fh)
        log(f"# {tag}: resumed at step {meta['step']} (opt step {opt.step.item()}), "
            f"val MAE at save {meta['val_mae']:.4f}, now {evaluate(model)[0]:.4f}")
    mx.eval(model.parameters(), opt.state)
    grad_fn = nn.value_and_grad(model, loss_fn)
    order = np.arange(len(train_nets))
    window = []
    for step in range(start, stop):
        if step % (len(order) // BATCH) == 0:
            rng.shuffle(order)
        k = step % (len(order) // BATCH)
        batch = pack([train_nets[i] for i in order[k * BATCH:(k + 1) * BATCH]])
        lr_now = float(opt.learning_rate.item()) if step > 0 or start > 0 else 0.0
        loss, grads = grad_fn(model, *batch)
        if step == 0:
            flat = tree_flatten(grads)
            zero = [n for n, g in flat if float(mx.abs(g).max().item()) == 0.0]
            before = [np.array(p) for _, p in tree_flatten(model.parameters())]
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 0:
            moved = max(float(np.abs(np.array(p) - b).max())
                        for (_, p), b in zip(tree_flatten(model.parameters()), before))
            log(f"# {tag}: {len(flat)} gradient leaves, zero-gradient leaves {zero}, "
                f"lr used on step 1 = {lr_now}, max weight change after step 1 = {moved:.1e}")
        window.append(loss.item())
        if (step + 1) % 100 == 0:
            mae, within = evaluate(model)
            log(f"{tag}\t{step + 1}\t{lr_now:.2e}\t{np.mean(window):.4f}\t{mae:.4f}\t{within:.1f}")
            window = []
    mae, _ = evaluate(model)
    if stop < TOTAL:
        model.save_weights(os.path.join(ckpt, "relay.safetensors"))
        mx.save_safetensors(os.path.join(ckpt, "adam.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(ckpt, "meta.json"), "w") as fh:
            json.dump({"step": stop, "val_mae": mae}, fh)
        log(f"# {tag}: saved {len(os.listdir(ckpt))} files at step {stop}; session ends")
    return mae


def main():
    t0 = time.time()
    print(f"# {len(train_nets)} training networks ({nodes} junctions), 120 validation networks")
    print(f"# val MAE references: predict-the-mean {mean_mae:.4f}, "
          f"linear own+neighbour {ref_mae:.4f}, noise floor ~0.08")
    print("session\tstep\tlr\thuber_train\tval_mae_mg_g\tval_within_0.25_pct")
    with tempfile.TemporaryDirectory() as ckpt:
        run_session("s1", 0, HALF, ckpt, print)
        final = run_session("s2", HALF, TOTAL, ckpt, print)
    print(f"# done: val MAE {final:.4f} (linear {ref_mae:.4f}, mean {mean_mae:.4f}), "
          f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
