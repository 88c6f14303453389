# Character-level pretraining on synthetic harbour tide-table bulletins.
# Bulletins of different lengths are packed back to back into fixed rows with an
# end-of-bulletin mark; attention is causal AND kept inside each bulletin.
# Objective: cross-entropy plus a small z-loss on the log-partition.
# Optimizer: Lion on cosine cycles with warm restarts; an EMA copy of the
# weights is evaluated next to the raw weights.
import logging
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                    format="%(asctime)s %(levelname)s tides | %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger()

CHARS = "|0123456789:. HLWmdayPORTABCD\n"
STOI = {c: i for i, c in enumerate(CHARS)}
EOD = STOI["|"]
V = len(CHARS)
ROW, BATCH = 64, 16
CYCLE, CYCLES = 40, 3
Z_COEF = 1e-3
EMA = 0.95


def bulletin(rng):
    ports = ["PORT A", "PORT B", "PORT C", "PORT D"]
    port = ports[rng.integers(4)]
    day = rng.integers(1, 29)
    t = rng.integers(0, 6 * 60)
    base = {"PORT A": 3.0, "PORT B": 4.5, "PORT C": 2.0, "PORT D": 5.5}[port]
    lines = [f"{port} day {day:02d}"]
    hw = True
    for _ in range(rng.integers(2, 5)):
        h = base + rng.normal(0, 0.3) if hw else rng.uniform(0.3, 1.2)
        lines.append(f"{'HW' if hw else 'LW'} {t // 60:02d}:{t % 60:02d} {h:.1f}m")
        t = (t + 372 + rng.integers(-8, 9)) % (24 * 60)
        hw = not hw
    return "\n".join(lines) + "\n|"


def build_stream(n_docs, seed):
    rng = np.random.default_rng(seed)
    text = "".join(bulletin(rng) for _ in range(n_docs))
    return np.array([STOI[c] for c in text], dtype=np.int32)


def doc_ids(x):
    # a new bulletin starts right after each end mark inside the row
    starts = mx.concatenate([mx.zeros((x.shape[0], 1), dtype=mx.int32),
                             (x[:, :-1] == EOD).astype(mx.int32)], axis=1)
    return mx.cumsum(starts, axis=1)


class TideLM(nn.Module):
    def __init__(self, d=48, heads=4):
        super().__init__()
        self.heads = heads
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Embedding(ROW, d)
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x):
        B, L = x.shape
        ids = doc_ids(x)
        causal = mx.tril(mx.ones((L, L), dtype=mx.bool_))
        same = ids[:, :, None] == ids[:, None, :]
        mask = mx.where(causal[None] & same, 0.0, -1e9)[:, None]
        h = self.emb(x) + self.pos(mx.arange(L))
        q, k, v = mx.split(self.qkv(self.ln1(h)), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=q.shape[-1] ** -0.5, mask=mask)
        h = h + self.out(a.transpose(0, 2, 1, 3).reshape(B, L, -1))
        h = h + self.mlp(self.ln2(h))
        return self.emb.as_linear(self.ln3(h))


def losses(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    z = (mx.logsumexp(logits, axis=-1) ** 2).mean()
    return ce + Z_COEF * z, (ce, z)


def objective(model, x, y):
    return losses(model, x, y)[0]


def rows(stream):
    n = (len(stream) - 1) // ROW
    x = stream[:n * ROW].reshape(n, ROW)
    y = stream[1:n * ROW + 1].reshape(n, ROW)
    return x, y


def eval_ce(model, x, y):
    tot = 0.0
    for i in range(0, len(x), 64):
        tot += nn.losses.cross_entropy(model(mx.array(x[i:i + 64])), mx.array(y[i:i + 64]),
                                       reduction="sum").item()
    return tot / y.size


def main():
    t0 = time.time()
    train, val = build_stream(1400, seed=1), build_stream(200, seed=2)
    tx, ty = rows(train)
    vx, vy = rows(val)
    uni = np.bincount(train, minlength=V) + 1.0
    uni_bits = float(-np.log2(uni[vy.ravel()] / uni.sum()).mean())
    big = np.ones((V, V))
    np.add.at(big, (train[:-1], train[1:]), 1.0)
    big /= big.sum(1, keepdims=True)
    big_bits = float(-np.log2(big[vx.ravel(), vy.ravel()]).mean())
    log.info("packed rows: train %d x %d, val %d x %d, bulletin marks in train %d",
             *tx.shape, *vx.shape, int((train == EOD).sum()))
    log.info("baselines (bits/char): unigram %.3f  bigram %.3f  uniform %.3f",
             uni_bits, big_bits, math.log2(V))

    mx.random.seed(0)
    model = TideLM()
    mx.eval(model.parameters())
    ema = tree_map(lambda p: p, model.parameters())
    shadow = TideLM()
    sched = optim.join_schedules(
        [optim.cosine_decay(2e-3, CYCLE, 1e-5) for _ in range(CYCLES)],
        [CYCLE * (i + 1) for i in range(CYCLES - 1)])
    opt = optim.Lion(learning_rate=sched, weight_decay=0.1)
    lg = nn.value_and_grad(model, objective)
    log.info("params %d, Lion on %d cosine cycles of %d steps (restarts at %s)",
             sum(p.size for _, p in tree_flatten(model.parameters())), CYCLES, CYCLE,
             [CYCLE * (i + 1) for i in range(CYCLES - 1)])

    rng = np.random.default_rng(5)
    for step in range(1, CYCLE * CYCLES + 1):
        idx = rng.integers(0, len(tx), BATCH)
        x, y = mx.array(tx[idx]), mx.array(ty[idx])
        lr_now = sched(opt.step).item()
        total, grads = lg(model, x, y)
        opt.update(model, grads)
        ema = tree_map(lambda e, p: EMA * e + (1 - EMA) * p, ema, model.parameters())
        mx.eval(model.parameters(), opt.state, ema, total)
        if step % 20 == 0:
            _, (ce, z) = losses(model, x, y)
            shadow.update(ema)
            v_raw = eval_ce(model, vx, vy) / math.log(2)
            v_ema = eval_ce(shadow, vx, vy) / math.log(2)
            log.info("step %3d lr %.2e | batch ce %.3f z %.2f total %.4f | val bits/char raw %.3f ema %.3f",
                     step, lr_now, ce.item(), z.item(), total.item(), v_raw, v_ema)

    shadow.update(ema)
    v_raw = eval_ce(model, vx, vy) / math.log(2)
    v_ema = eval_ce(shadow, vx, vy) / math.log(2)
    log.info("done in %.1fs: val bits/char raw %.3f, ema %.3f, bigram %.3f (%.0f%% of bigram)",
             time.time() - t0, v_raw, v_ema, big_bits, 100 * min(v_raw, v_ema) / big_bits)


if __name__ == "__main__":
    main()
