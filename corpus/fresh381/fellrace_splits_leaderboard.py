"""Fell-race checkpoint log LM: a small speedrun-to-target leaderboard.

Each attempt trains a fresh order-2 context model on a synthetic stream of
checkpoint tokens until the validation loss reaches a set target, then the
attempt stops and its step count and wall time go on the board.  Validation is
only run every SPLIT_EVERY steps ("splits"), and each split is compared with the
current record holder's split at the same step (negative delta = ahead).
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB = 20
BATCH = 256
SPLIT_EVERY = 25
BUDGET = 1000


# ----------------------------------------------------------------- data
def make_source(seed=7):
    rng = np.random.default_rng(seed)
    # order-2 source: each (a, b) context has a peaked next-token distribution
    logits = rng.normal(0.0, 1.0, size=(VOCAB, VOCAB, VOCAB)) * 2.2
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return probs


def sample_stream(probs, n, seed):
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=np.int32)
    out[0], out[1] = rng.integers(0, VOCAB, size=2)
    cum = probs.cumsum(-1)
    u = rng.random(n)
    for t in range(2, n):
        out[t] = min(int(np.searchsorted(cum[out[t - 2], out[t - 1]], u[t])), VOCAB - 1)
    return out


def entropy_floor(probs, stream):
    # empirical average of the true conditional entropy along the stream (nats)
    a, b = stream[:-2], stream[1:-1]
    p = probs[a, b]
    return float(-(p * np.log(p)).sum(-1).mean())


def unigram_nll(stream):
    counts = np.bincount(stream, minlength=VOCAB) + 1.0
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


# ----------------------------------------------------------------- model
class TinyLM(nn.Module):
    """Order-2 context model: embeddings of the two previous tokens -> MLP -> logits."""

    def __init__(self, d=24, hidden=96):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.hid = [nn.Linear(2 * d, hidden), nn.Linear(hidden, hidden)]
        self.head = nn.Linear(hidden, VOCAB)

    def __call__(self, ctx):
        h = self.tok(ctx).reshape(ctx.shape[0], -1)
        for layer in self.hid:
            h = nn.relu(layer(h)) ** 2
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


# ----------------------------------------------------------------- schedules
def warmup_then_constant(peak, warm):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), lambda s: mx.array(peak)], [warm])


def warmup_stable_decay(peak, warm, stable, decay):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         lambda s: mx.array(peak),
         optim.linear_schedule(peak, 0.0, decay)],
        [warm, warm + stable])


def build_optimizer(kind):
    if kind == "adamw/const":
        return optim.AdamW(learning_rate=warmup_then_constant(1e-2, 20), weight_decay=0.0)
    # hidden matrices of the block go to Muon, everything else to AdamW
    def is_hidden(path, p):
        return p.ndim == 2 and path.startswith("hid.")
    muon = optim.Muon(learning_rate=warmup_stable_decay(0.05, 20, 680, 300), momentum=0.95)
    adam = optim.AdamW(learning_rate=warmup_stable_decay(1e-2, 20, 680, 300), weight_decay=0.0)
    return optim.MultiOptimizer([muon, adam], [is_hidden])


# ----------------------------------------------------------------- batches
def batches(stream, seed):
    rng = np.random.default_rng(seed)
    while True:
        idx = rng.integers(2, len(stream), size=BATCH)
        ctx = np.stack([stream[idx - 2], stream[idx - 1]], axis=1)
        yield mx.array(ctx), mx.array(stream[idx])


def holdout_val(stream):
    idx = np.arange(2, len(stream))
    ctx = np.stack([stream[idx - 2], stream[idx - 1]], axis=1)
    return mx.array(ctx), mx.array(stream[idx])


def run_attempt(name, kind, seed, train, val, target, record_splits):
    mx.random.seed(seed)
    model = TinyLM()
    mx.eval(model.parameters())
    opt = build_optimizer(kind)
    lg = nn.value_and_grad(model, loss_fn)
    vx, vy = val
    it = batches(train, seed + 1000)
    splits = {}
    t0 = time.perf_counter()
    v0 = loss_fn(model, vx, vy).item()
    print(f"  [{name}] gun fired   step    0  val {v0:.4f}")
    finished = None
    for step in range(1, BUDGET + 1):
        x, y = next(it)
        loss, grads = lg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % SPLIT_EVERY == 0:
            v = loss_fn(model, vx, vy).item()
            splits[step] = v
            ref = record_splits.get(step)
            delta = "   n/a  " if ref is None else f"{v - ref:+.4f}"
            print(f"  [{name}] split       step {step:4d}  val {v:.4f}  vs record {delta}"
                  f"  train {loss.item():.4f}  t {time.perf_counter() - t0:5.2f}s")
            if v <= target:
                finished = step
                break
    wall = time.perf_counter() - t0
    return finished, wall, splits


def main():
    probs = make_source()
    train = sample_stream(probs, 60000, seed=1)
    valid_stream = sample_stream(probs, 8000, seed=2)
    floor = entropy_floor(probs, valid_stream)
    uni = unigram_nll(train)
    target = floor + 0.75
    print("fell-race checkpoint log | speedrun to target")
    print(f"  vocab {VOCAB}  context 2  batch {BATCH}  budget {BUDGET} steps")
    print(f"  uniform {math.log(VOCAB):.4f}  unigram {uni:.4f}  source floor {floor:.4f}"
          f"  -> target val {target:.4f}")
    val = holdout_val(valid_stream)

    board = []
    record_splits = {}
    attempts = [("A", "adamw/const", 11), ("B", "muon+adamw/wsd", 11), ("C", "muon+adamw/wsd", 23)]
    for name, kind, seed in attempts:
        print(f"attempt {name}: {kind} seed {seed}")
        finished, wall, splits = run_attempt(name, kind, seed, train, val, target, record_splits)
        if finished is None:
            print(f"  [{name}] did not finish inside {BUDGET} steps ({wall:.2f}s)")
            board.append((name, kind, None, wall, min(splits.values())))
            continue
        print(f"  [{name}] FINISH      step {finished:4d}  wall {wall:.2f}s")
        board.append((name, kind, finished, wall, splits[finished]))
        best = min((b for b in board if b[2] is not None), key=lambda b: b[2])
        if best[0] == name:
            record_splits = splits
            print(f"  [{name}] new record")

    print("leaderboard (fewest steps first)")
    print(f"  {'#':>2} {'attempt':<8}{'optimizer':<18}{'steps':>7}{'wall s':>9}{'val at stop':>13}")
    ranked = sorted(board, key=lambda b: (b[2] is None, b[2] or 0))
    for i, (name, kind, steps, wall, v) in enumerate(ranked, 1):
        s = "DNF" if steps is None else str(steps)
        print(f"  {i:>2} {name:<8}{kind:<18}{s:>7}{wall:9.2f}{v:13.4f}")


if __name__ == "__main__":
    main()
