"""Antique clock movement lookup.

A repairer measures a movement on the bench (10 noisy caliper / count readings)
and wants the maker's catalogue entry (14 printed fields) for it.  Two small
towers map both views into one 32-d space; training uses in-batch negatives
plus one mined hard negative per query, mined from the whole training
catalogue with the current towers and re-mined every few epochs.

Run notes
- the lr ramps up linearly from exactly 0, so step 1 leaves the weights as they are
- the loss goes up right after each re-mining: the negatives just got harder
- a checkpoint is written half-way, a fresh model is built from it and training
  carries on from there
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
N_MOVEMENTS = 500
N_TRAIN = 400
LATENT = 8
BATCH = 32
EPOCHS = 12
WARMUP = 50
PEAK_LR = 2e-3
REMINE_AT = (3, 6, 9)
CKPT_EPOCH = 6

rng = np.random.default_rng(SEED)

# ---- synthetic catalogue -------------------------------------------------
z = rng.normal(size=(N_MOVEMENTS, LATENT)).astype(np.float32)
A = rng.normal(size=(LATENT, 14)).astype(np.float32) / math.sqrt(LATENT)
B = rng.normal(size=(LATENT, 10)).astype(np.float32) / math.sqrt(LATENT)
catalogue = np.tanh(1.3 * z @ A) + 0.05 * rng.normal(size=(N_MOVEMENTS, 14)).astype(np.float32)
catalogue = catalogue.astype(np.float32)


def bench_reading(idx, r):
    """What the repairer writes down: gain error, offset, noise."""
    base = z[idx] @ B + 0.3 * np.sin(2.0 * z[idx] @ B)
    gain = r.uniform(0.85, 1.15, size=(len(idx), 1))
    noise = 0.15 * r.normal(size=base.shape)
    return (gain * base + noise).astype(np.float32)


train_ids = np.arange(N_TRAIN)
test_ids = np.arange(N_TRAIN, N_MOVEMENTS)
test_queries = bench_reading(test_ids, np.random.default_rng(SEED + 1))


class Tower(nn.Module):
    def __init__(self, d_in, d_hidden=96, d_out=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, d_hidden)
        self.norm = nn.LayerNorm(d_hidden)
        self.l2 = nn.Linear(d_hidden, d_hidden)
        self.out = nn.Linear(d_hidden, d_out)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.l1(x)))
        h = h + nn.gelu(self.l2(h))
        e = self.out(h)
        return e / mx.sqrt(mx.sum(e * e, axis=-1, keepdims=True) + 1e-8)


class Matcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.bench = Tower(10)
        self.cat = Tower(14)
        self.log_scale = mx.array(math.log(10.0))

    def scale(self):
        return mx.exp(mx.clip(self.log_scale, 0.0, math.log(100.0)))


def loss_fn(model, q, d_pos, d_hard):
    eq = model.bench(q)
    ed = model.cat(mx.concatenate([d_pos, d_hard], axis=0))
    logits = model.scale() * (eq @ ed.T)
    labels = mx.arange(q.shape[0])
    return mx.mean(nn.losses.cross_entropy(logits, labels))


def lr_at(step, total):
    if step < WARMUP:
        return PEAK_LR * step / WARMUP
    t = (step - WARMUP) / max(1, total - WARMUP)
    return PEAK_LR * 0.5 * (1.0 + math.cos(math.pi * t))


def recall(model, queries, ids, k):
    eq = model.bench(mx.array(queries))
    ed = model.cat(mx.array(catalogue))
    sims = np.array(eq @ ed.T)
    order = np.argsort(-sims, axis=1)[:, :k]
    return float(np.mean([ids[i] in order[i] for i in range(len(ids))]))


def mine(model, r):
    """For each training movement: the most similar *other* catalogue entry."""
    q = bench_reading(train_ids, r)
    eq = model.bench(mx.array(q))
    ed = model.cat(mx.array(catalogue[train_ids]))
    sims = np.array(eq @ ed.T)
    sims[np.arange(N_TRAIN), np.arange(N_TRAIN)] = -np.inf
    hard = np.argmax(sims, axis=1)
    return hard, float(np.mean(sims[np.arange(N_TRAIN), hard]))


def build(state_dir=None):
    model = Matcher()
    opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
    if state_dir is not None:
        model.load_weights(os.path.join(state_dir, "model.safetensors"))
        opt.init(model.trainable_parameters())
        flat = mx.load(os.path.join(state_dir, "opt.safetensors"))
        opt.state = tree_unflatten(list(flat.items()))
    mx.eval(model.parameters())
    return model, opt


def main():
    mx.random.seed(SEED)
    model, opt = build()
    steps_per_epoch = N_TRAIN // BATCH
    total = EPOCHS * steps_per_epoch

    print(f"catalogue {N_MOVEMENTS} movements, train {N_TRAIN}, held-out queries {len(test_ids)}")
    print(f"chance R@1 {1 / N_MOVEMENTS:.3f}")
    print(f"untrained towers  R@1 {recall(model, test_queries, test_ids, 1):.3f}  "
          f"R@5 {recall(model, test_queries, test_ids, 5):.3f}")

    data_rng = np.random.default_rng(SEED + 2)
    hard = data_rng.integers(0, N_TRAIN, size=N_TRAIN)
    hard = np.where(hard == train_ids, (hard + 1) % N_TRAIN, hard)
    step = 0
    tmp = tempfile.mkdtemp()
    t0 = time.perf_counter()

    for epoch in range(EPOCHS):
        if epoch in REMINE_AT:
            hard, hard_cos = mine(model, data_rng)
            print(f"-- epoch {epoch}: re-mined hard negatives, mean hard-negative cosine {hard_cos:.3f}")
        if epoch == CKPT_EPOCH:
            model.save_weights(os.path.join(tmp, "model.safetensors"))
            mx.save_safetensors(os.path.join(tmp, "opt.safetensors"), dict(tree_flatten(opt.state)))
            before = recall(model, test_queries, test_ids, 1)
            model, opt = build(tmp)
            after = recall(model, test_queries, test_ids, 1)
            print(f"-- checkpoint written and reloaded at step {step}: R@1 {before:.3f} -> {after:.3f}")
        loss_and_grad = nn.value_and_grad(model, loss_fn)

        perm = data_rng.permutation(N_TRAIN)
        losses = []
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            q = mx.array(bench_reading(idx, data_rng))
            d_pos = mx.array(catalogue[idx])
            d_hard = mx.array(catalogue[hard[idx]])
            opt.learning_rate = lr_at(step, total)
            loss, grads = loss_and_grad(model, q, d_pos, d_hard)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
            step += 1
            if step == 1:
                print(f"step 1  lr {lr_at(0, total):.1e}  loss {losses[-1]:.4f}")
        print(f"epoch {epoch:2d}  step {step:4d}  lr {lr_at(step - 1, total):.2e}  "
              f"loss first {losses[0]:.4f} mean {np.mean(losses):.4f}  "
              f"scale {model.scale().item():6.2f}  held-out R@1 {recall(model, test_queries, test_ids, 1):.3f}")

    r1 = recall(model, test_queries, test_ids, 1)
    r5 = recall(model, test_queries, test_ids, 5)
    print(f"final held-out R@1 {r1:.3f}  R@5 {r5:.3f}  ({time.perf_counter() - t0:.1f}s)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
