"""Railway axle-counter pulse tagging.

Each record is a train passing a treadle: a variable-length series of pulses
(width, amplitude, gap to previous pulse).  Every pulse gets one of four tags:
  0 leading axle of a bogie, 1 trailing axle of a bogie, 2 single axle, 3 noise spike.
Records come from sites of different sensor quality; poorer sites have noisier
hand labels, so each record carries a confidence weight used in the loss.
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

MAXLEN = 32
NTAG = 4
rng = np.random.default_rng(7)


def make_record():
    feats, tags = [], []
    while len(tags) < MAXLEN - 3:
        kind = rng.choice(3, p=[0.55, 0.3, 0.15])
        if kind == 0:  # bogie: two axles close together
            feats.append([1.0, 1.0, rng.uniform(2.0, 4.0)]); tags.append(0)
            feats.append([1.0, 1.0, rng.uniform(0.4, 0.8)]); tags.append(1)
        elif kind == 1:
            feats.append([1.0, 1.0, rng.uniform(2.0, 4.0)]); tags.append(2)
        else:
            feats.append([0.3, 0.4, rng.uniform(0.2, 3.0)]); tags.append(3)
        if rng.uniform() < 0.12:
            break
    feats = np.array(feats, np.float32)
    feats += rng.normal(0, 0.12, feats.shape).astype(np.float32)
    return feats, np.array(tags, np.int32)


def make_set(n):
    x = np.zeros((n, MAXLEN, 3), np.float32)
    y = np.zeros((n, MAXLEN), np.int32)
    lens = np.zeros(n, np.int32)
    w = np.zeros(n, np.float32)
    for i in range(n):
        f, t = make_record()
        q = rng.choice([0.25, 0.5, 1.0], p=[0.3, 0.3, 0.4])
        flip = rng.uniform(size=len(t)) < (0.35 * (1.0 - q))
        t = np.where(flip, rng.integers(0, NTAG, len(t)), t)
        x[i, : len(f)] = f
        y[i, : len(t)] = t
        lens[i] = len(t)
        w[i] = q
    return mx.array(x), mx.array(y), mx.array(lens), mx.array(w)


class Tagger(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.inp = nn.Linear(3, 24)
        self.c1 = nn.Conv1d(24, hidden, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(hidden, hidden, kernel_size=5, padding=2)
        self.out = nn.Linear(hidden, NTAG)

    def __call__(self, x, lens):
        m = token_mask(lens)[..., None]
        h = nn.gelu(self.inp(x)) * m
        h = nn.gelu(self.c1(h)) * m
        h = h + nn.gelu(self.c2(h)) * m
        return self.out(h)


def token_mask(lens):
    return (mx.arange(MAXLEN)[None, :] < lens[:, None]).astype(mx.float32)


def weighted_loss(model, x, y, lens, w):
    logits = model(x, lens)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    m = token_mask(lens) * w[:, None]
    return (ce * m).sum() / m.sum()


def evaluate(model, x, y, lens):
    logits = model(x, lens)
    m = token_mask(lens)
    ce = (nn.losses.cross_entropy(logits, y, reduction="none") * m).sum() / m.sum()
    acc = ((mx.argmax(logits, -1) == y) * m).sum() / m.sum()
    return ce.item(), acc.item()


def build_opt(total):
    warm = 30
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 2e-4)], [warm]
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-3)


def run_leg(model, opt, data, steps, start, batch=48):
    x, y, lens, w = data
    n = x.shape[0]
    lg = nn.value_and_grad(model, weighted_loss)
    hist = []
    for s in range(start, start + steps):
        ids = mx.array(rng.integers(0, n, batch))
        loss, g = lg(model, x[ids], y[ids], lens[ids], w[ids])
        g, gn = optim.clip_grad_norm(g, 2.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        hist.append(loss.item())
        if (s + 1) % 25 == 0:
            lr = opt.learning_rate.item()
            print(f"  step {s+1:4d}  lr {lr:.5f}  weighted CE (last 25) {np.mean(hist[-25:]):.4f}  |g| {gn.item():.3f}")
    return hist


def main():
    t0 = time.time()
    mx.random.seed(3)
    train = make_set(1600)
    val_x, val_y, val_l, _ = make_set(500)
    tok = token_mask(val_l)
    counts = [((val_y == k) * tok).sum().item() for k in range(NTAG)]
    major = max(counts) / sum(counts)
    print(f"records: train 1600, val 500 | mean length {train[2].astype(mx.float32).mean().item():.1f} pulses")
    print(f"baselines: uniform CE {math.log(NTAG):.4f} nats, majority-tag accuracy {100*major:.1f}%")

    total = 200
    model = Tagger()
    opt = build_opt(total)
    ce0, acc0 = evaluate(model, val_x, val_y, val_l)
    print(f"before training: val CE {ce0:.4f}  val acc {100*acc0:.1f}%  (gain over uniform {math.log(NTAG)-ce0:+.4f} nats)")

    print("leg 1")
    run_leg(model, opt, train, 100, 0)
    ce1, acc1 = evaluate(model, val_x, val_y, val_l)
    print(f"after leg 1: val CE {ce1:.4f}  val acc {100*acc1:.1f}%")

    ckdir = tempfile.mkdtemp(prefix="treadle_")
    wpath = os.path.join(ckdir, "tagger.safetensors")
    opath = os.path.join(ckdir, "opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    print(f"checkpoint written ({os.path.getsize(wpath)//1024} KB weights), reloading into a fresh process state")

    model2 = Tagger()
    model2.load_weights(wpath)
    opt2 = build_opt(total)
    opt2.state = tree_unflatten(list(mx.load(opath).items()))
    ce1b, _ = evaluate(model2, val_x, val_y, val_l)
    print(f"reloaded val CE {ce1b:.4f} (step counter {int(opt2.state['step'].item())})")

    print("leg 2")
    run_leg(model2, opt2, train, 100, 100)
    ce2, acc2 = evaluate(model2, val_x, val_y, val_l)
    print(f"after leg 2: val CE {ce2:.4f}  val acc {100*acc2:.1f}%  (gain over uniform {math.log(NTAG)-ce2:+.4f} nats)")
    print(f"done in {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
