# Lighthouse flash-code model: a small GRU character model trained on
# synthetic light-list flash sequences (an order-2 Markov source with a known entropy
# rate).  Memory is held flat on purpose: the loss over the output head is
# computed in sequence chunks, each recomputed in the backward pass, and the
# effective batch grows by accumulating more micro-batches per update (not by
# making the micro-batch bigger).  The lr warms up from exactly 0.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

V = 12            # flash-code symbols (short flash, long flash, eclipse, ...)
SEQ = 24
MICRO = 16        # sequences per micro-batch (constant)
CHUNK = 8         # time steps per loss chunk
STAGES = [(1, 40), (2, 30), (4, 25), (8, 15)]   # (micro-batches per update, updates)


def make_source(rng):
    trans = np.zeros((V, V, V))
    for a in range(V):
        for b in range(V):
            nxt = rng.choice(V, size=3, replace=False)
            trans[a, b, nxt] = rng.dirichlet([2.0, 1.0, 0.6])
    # exact entropy rate from the stationary law of the pair chain
    P = np.zeros((V * V, V * V))
    for a in range(V):
        for b in range(V):
            for c in range(V):
                P[a * V + b, b * V + c] = trans[a, b, c]
    pi = np.full(V * V, 1.0 / (V * V))
    for _ in range(2000):
        pi = pi @ P
    h = -np.sum(trans * np.log(np.where(trans > 0, trans, 1.0)), axis=2).reshape(-1)
    return trans, float(pi @ h)


def sample(trans, rng, n):
    out = np.zeros((n, SEQ + 1), dtype=np.int32)
    out[:, 0] = rng.integers(0, V, n)
    out[:, 1] = rng.integers(0, V, n)
    cdf = np.cumsum(trans, axis=2)
    for t in range(2, SEQ + 1):
        u = rng.random(n)[:, None]
        row = cdf[out[:, t - 2], out[:, t - 1]]
        out[:, t] = np.minimum((u > row).sum(axis=1), V - 1)
    # the first two symbols are free draws; train on what follows
    return out


class FlashModel(nn.Module):
    def __init__(self, dims=48):
        super().__init__()
        self.embed = nn.Embedding(V, dims)
        self.rnn = nn.GRU(dims, dims)
        self.head = nn.Linear(dims, V)
        self._chunk_ce = nn.utils.checkpoint(self.head, self._head_ce)

    def _head_ce(self, h, y):
        # targets are integer inputs of the recomputed chunk: no gradient for them
        return nn.losses.cross_entropy(self.head(h), mx.stop_gradient(y), reduction="sum")

    def loss(self, x, y):
        h = self.rnn(self.embed(x))
        total = mx.array(0.0)
        for s in range(1, SEQ, CHUNK):           # skip position 0 (one-symbol context)
            total = total + self._chunk_ce(h[:, s:s + CHUNK], y[:, s:s + CHUNK])
        n_pred = y.shape[0] * (SEQ - 1)
        return total / n_pred


def main():
    rng = np.random.default_rng(2024)
    trans, floor_nats = make_source(rng)
    train = sample(trans, rng, 8000)
    valid = mx.array(sample(trans, rng, 800))
    print(f"source: {V} flash symbols, order-2, entropy floor {floor_nats / math.log(2):.3f} bits/flash "
          f"(uniform {math.log2(V):.3f})")

    mx.random.seed(0)
    model = FlashModel()
    mx.eval(model.parameters())
    total_updates = sum(u for _, u in STAGES)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, 20), optim.cosine_decay(4e-3, total_updates - 20, 4e-4)], [20])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, lambda m, x, y: m.loss(x, y))

    def val_bits():
        return model.loss(valid[:, :-1], valid[:, 1:]).item() / math.log(2)

    _, g0 = vg(model, mx.array(train[:MICRO, :-1]), mx.array(train[:MICRO, 1:]))
    leaves = tree_flatten(g0)
    dead = [k for k, v in leaves if mx.abs(v).max().item() == 0]
    print(f"grad check: {len(leaves)} leaves, zero leaves: {dead}")

    def plain_loss(m, x, y):
        logits = m.head(m.rnn(m.embed(x)))[:, 1:]
        return nn.losses.cross_entropy(logits, y[:, 1:], reduction="mean")

    _, g_plain = nn.value_and_grad(model, plain_loss)(model, mx.array(train[:MICRO, :-1]), mx.array(train[:MICRO, 1:]))
    diff = max(mx.abs(a - b).max().item() for (_, a), (_, b) in zip(leaves, tree_flatten(g_plain)))
    print(f"chunked+recomputed loss gradient vs plain loss gradient: max abs diff {diff:.2e}")
    print(f"untrained valid {val_bits():.3f} bits/flash")

    cursor, update, t0 = 0, 0, time.time()
    mx.reset_peak_memory()
    for stage, (accum, n_updates) in enumerate(STAGES, 1):
        win = []
        for _ in range(n_updates):
            lr_now = float(sched(opt.step))
            acc_g, acc_l = None, 0.0
            for _ in range(accum):
                if cursor + MICRO > len(train):
                    rng.shuffle(train)
                    cursor = 0
                xb = mx.array(train[cursor:cursor + MICRO])
                cursor += MICRO
                loss, g = vg(model, xb[:, :-1], xb[:, 1:])
                acc_g = g if acc_g is None else tree_map(mx.add, acc_g, g)
                mx.eval(acc_g, loss)
                acc_l += loss.item()
            opt.update(model, tree_map(lambda a: a / accum, acc_g))
            mx.eval(model.parameters(), opt.state)
            update += 1
            win.append(acc_l / accum / math.log(2))
            if update == 1:
                print(f"update 1 used lr {lr_now:.1e} (warm-up starts at zero)")
        print(f"stage {stage} | {accum} x {MICRO} seq per update | updates {update:3d} | lr {lr_now:.2e}"
              f" | train {np.mean(win):.3f} bits (min {min(win):.3f} max {max(win):.3f})"
              f" | valid {val_bits():.3f} bits | floor {floor_nats / math.log(2):.3f}"
              f" | peak mem {mx.get_peak_memory() / 1e6:.1f} MB | {time.time() - t0:.0f}s")
    gap = val_bits() - floor_nats / math.log(2)
    print(f"done: valid within {gap:.3f} bits of the source entropy after {update} updates")


if __name__ == "__main__":
    main()
