"""Ice-road convoy log: per-checkpoint 'slow order' tagging.

Each synthetic convoy run is a variable-length (6-40) sequence of checkpoints
with 4 readings: ice thickness (cm), air temperature (C), axle load (t) and
speed (km/h). A checkpoint gets a slow order when the load-adjusted ice margin
is thin, and a warm spell over the previous checkpoints makes that worse.
10% of tags are flipped (dispatcher noise), so the loss has a floor.

Length-bucketed batches with padding masks, a GRU tagger, warm-up from lr 0,
a checkpoint to disk at the half-way point and a resume into a fresh model and
optimizer, as if the truck-stop laptop had rebooted.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 5
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)
FLIP = 0.10


def convoy_run():
    L = int(rng.integers(6, 41))
    thick = 70 + np.cumsum(rng.normal(0, 3.0, L)) + rng.normal(0, 4, L)
    temp = -18 + np.cumsum(rng.normal(0.2, 1.5, L))
    load = rng.uniform(20, 60, L)
    speed = rng.uniform(15, 35, L)
    warm = np.convolve(np.maximum(temp + 10, 0), np.ones(4), mode="full")[:L]
    margin = thick - 8.0 * np.sqrt(load) - 0.6 * warm - 0.2 * (speed - 25)
    tag = (margin < 18).astype(np.float32)
    flip = rng.random(L) < FLIP
    tag = np.where(flip, 1 - tag, tag)
    x = np.stack([(thick - 70) / 15, (temp + 15) / 8, (load - 40) / 12,
                  (speed - 25) / 6], axis=1).astype(np.float32)
    return x, tag


def make_split(n):
    return [convoy_run() for _ in range(n)]


def bucket_batches(runs, batch_size, width=8, shuffle=True):
    """Group runs by length bucket, pad each batch to its own longest run."""
    buckets = {}
    for i, (x, _) in enumerate(runs):
        buckets.setdefault(len(x) // width, []).append(i)
    batches = []
    for ids in buckets.values():
        ids = list(ids)
        if shuffle:
            rng.shuffle(ids)
        for s in range(0, len(ids), batch_size):
            batches.append(ids[s:s + batch_size])
    if shuffle:
        rng.shuffle(batches)
    for ids in batches:
        L = max(len(runs[i][0]) for i in ids)
        X = np.zeros((len(ids), L, 4), np.float32)
        Y = np.zeros((len(ids), L), np.float32)
        M = np.zeros((len(ids), L), np.float32)
        for r, i in enumerate(ids):
            x, y = runs[i]
            X[r, :len(x)] = x
            Y[r, :len(y)] = y
            M[r, :len(y)] = 1.0
        yield mx.array(X), mx.array(Y), mx.array(M)


class ConvoyTagger(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.inp = nn.Linear(4, hidden)
        self.gru = nn.GRU(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.gru(nn.silu(self.inp(x)))
        return self.out(h).squeeze(-1)


def masked_bce(model, X, Y, M):
    logits = model(X)
    per = nn.losses.binary_cross_entropy(logits, Y, with_logits=True, reduction="none")
    return (per * M).sum() / M.sum()


def evaluate(model, runs):
    tp = fp = fn = correct = total = 0
    nll = 0.0
    for X, Y, M in bucket_batches(runs, 128, shuffle=False):
        logits = model(X)
        per = nn.losses.binary_cross_entropy(logits, Y, with_logits=True, reduction="none")
        pred = (logits > 0).astype(mx.float32)
        m = np.array(M).astype(bool)
        p, y = np.array(pred)[m], np.array(Y)[m]
        tp += int(((p == 1) & (y == 1)).sum())
        fp += int(((p == 1) & (y == 0)).sum())
        fn += int(((p == 0) & (y == 1)).sum())
        correct += int((p == y).sum())
        total += int(m.sum())
        nll += float((per * M).sum().item())
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    return nll / total, correct / total, f1


def build(total_steps, warm):
    model = ConvoyTagger()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm),
         optim.cosine_decay(4e-3, total_steps - warm, 2e-4)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    return model, opt


def run_steps(model, opt, train, start, stop, log_every):
    lg = nn.value_and_grad(model, masked_bce)
    step = start
    tic = time.perf_counter()
    while step < stop:
        for X, Y, M in bucket_batches(train, 32):
            if step >= stop:
                break
            lr = opt.learning_rate.item()
            loss, grads = lg(model, X, Y, M)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            step += 1
            if step % log_every == 0 or step == start + 1:
                print(f"  step {step:4d}  lr {lr:.5f}  masked-bce {loss.item():.4f}"
                      f"  pad-width {X.shape[1]:2d}  {time.perf_counter() - tic:5.1f}s")
    return step


def main():
    train, val = make_split(1800), make_split(300)
    pos = np.mean(np.concatenate([y for _, y in val]))
    floor = -(FLIP * np.log(FLIP) + (1 - FLIP) * np.log(1 - FLIP))
    print(f"runs: train {len(train)} val {len(val)} | val slow-order rate {pos:.3f}"
          f" | dispatcher-noise floor {floor:.3f} nats")
    majority_acc = max(pos, 1 - pos)
    total, warm, half = 300, 40, 150

    model, opt = build(total, warm)
    mx.eval(model.parameters())
    nll, acc, f1 = evaluate(model, val)
    print(f"untrained: val bce {nll:.4f} acc {acc:.3f} f1 {f1:.3f}"
          f" (majority acc {majority_acc:.3f}, f1 0.000)")
    step = run_steps(model, opt, train, 0, half, 50)
    nll, acc, f1 = evaluate(model, val)
    print(f"[half] step {step}: val bce {nll:.4f} acc {acc:.3f} f1 {f1:.3f}")

    ckdir = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckdir, "tagger.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "adamw.safetensors"),
                        dict(tree_flatten(opt.state)))
    print(f"checkpoint written ({len(tree_flatten(opt.state))} optimizer leaves);"
          " restarting from disk")
    del model, opt

    model, opt = build(total, warm)
    model.load_weights(os.path.join(ckdir, "tagger.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "adamw.safetensors")).items()))
    nll_r, acc_r, _ = evaluate(model, val)
    print(f"resumed at optimizer step {int(opt.state['step'].item())}:"
          f" val bce {nll_r:.4f} acc {acc_r:.3f}")
    step = run_steps(model, opt, train, step, total, 50)
    nll, acc, f1 = evaluate(model, val)
    print(f"final step {step}: val bce {nll:.4f} (floor {floor:.3f}) acc {acc:.3f}"
          f" (majority {majority_acc:.3f}, noise ceiling {1 - FLIP:.3f}) f1 {f1:.3f}")


if __name__ == "__main__":
    main()
