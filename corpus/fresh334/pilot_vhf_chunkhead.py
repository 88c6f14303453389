"""Harbour pilot VHF call log: next-token model with a memory-bounded output head.

The vocabulary (vessels, berths, clock tokens, radio words) is much wider than the
model, so the [tokens x vocab] logits are the biggest tensor of a step. The head is
evaluated in row chunks, each chunk under mx.checkpoint, so only one chunk of
logits lives at a time and the backward pass recomputes it. Output is SQL.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 7
N_VESSEL, N_BERTH = 160, 16
WORDS = ["CALL", "REQ", "AT", "OVER", "ACK", "OUT"]
HOURS = [f"h{h:02d}" for h in range(24)]
MINS = [f"m{m:02d}" for m in range(0, 60, 5)]
VOCAB = WORDS + [f"v{i:03d}" for i in range(N_VESSEL)] + [f"b{j:02d}" for j in range(N_BERTH)] + HOURS + MINS
TOK = {w: i for i, w in enumerate(VOCAB)}
V = len(VOCAB)
T, B, D, HEADS = 24, 16, 32, 4
CHUNK_ROWS = 96
STEPS, WARM = 360, 30
PEAK_LR, END_LR = 3e-3, 1e-4
CACHE_CAP = 8 << 20


def q(x):
    if isinstance(x, str):
        return "'" + x + "'"
    if isinstance(x, float):
        return "NULL" if not math.isfinite(x) else f"{x:.5g}"
    return str(x)


def insert(table, **row):
    cols = ", ".join(row)
    vals = ", ".join(q(v) for v in row.values())
    print(f"INSERT INTO {table} ({cols}) VALUES ({vals});", flush=True)


def make_stream(rng, n_calls):
    out = []
    for _ in range(n_calls):
        v = int(rng.integers(N_VESSEL))
        b = v % N_BERTH
        hh, mm = HOURS[int(rng.integers(24))], MINS[int(rng.integers(12))]
        vt, bt = f"v{v:03d}", f"b{b:02d}"
        out += ["CALL", vt, "REQ", bt, "AT", hh, mm, "OVER", "ACK", vt, bt, "OUT"]
    return np.array([TOK[w] for w in out], dtype=np.int32)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff2(nn.gelu(self.ff1(self.ln2(x))))


class CallLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(T, D)
        self.blocks = [Block(D, HEADS)]
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, V)

    def trunk(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        h = self.emb(x) + self.pos(mx.arange(x.shape[1]))
        for blk in self.blocks:
            h = blk(h, mask)
        return self.ln_f(h)


def head_ce_sum(w, b, h, y):
    logits = h @ w.T + b
    return nn.losses.cross_entropy(logits, y, reduction="sum")


def chunk_term(w, b, h, y):
    return mx.checkpoint(lambda w_, b_, h_: head_ce_sum(w_, b_, h_, y))(w, b, h)


def loss_chunked(model, x, y):
    h = model.trunk(x).reshape(-1, D)
    yy = y.reshape(-1)
    n = yy.shape[0]
    total = mx.array(0.0)
    for s in range(0, n, CHUNK_ROWS):
        total = total + chunk_term(model.head.weight, model.head.bias, h[s:s + CHUNK_ROWS], yy[s:s + CHUNK_ROWS])
    return total / n


def loss_full(model, x, y):
    h = model.trunk(x)
    return nn.losses.cross_entropy(model.head(h), y, reduction="mean")


def batch(rng, stream, bs):
    starts = rng.integers(0, len(stream) - T - 1, size=bs)
    idx = starts[:, None] + np.arange(T + 1)[None, :]
    w = stream[idx]
    return mx.array(w[:, :-1]), mx.array(w[:, 1:])


def peak_of(fn, model, x, y):
    mx.eval(model.parameters())
    mx.clear_cache()
    mx.reset_peak_memory()
    base = mx.get_active_memory()
    loss, grads = nn.value_and_grad(model, fn)(model, x, y)
    mx.eval(loss, grads)
    return loss, grads, (mx.get_peak_memory() - base) / 2**20


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    mx.set_cache_limit(CACHE_CAP)
    train = make_stream(rng, 3000)
    valid = make_stream(np.random.default_rng(SEED + 1), 400)

    counts = np.bincount(train, minlength=V).astype(np.float64) + 0.5
    p = counts / counts.sum()
    unigram = float(-(np.log(p[valid])).mean())
    floor = (math.log(N_VESSEL) + math.log(24) + math.log(12)) / 12.0

    print("-- pilot VHF call log, chunked-head next-token model")
    print("CREATE TABLE run_info (key TEXT, value TEXT);")
    print("CREATE TABLE head_check (what TEXT, value REAL);")
    print("CREATE TABLE train_log (step INTEGER, lr REAL, train_nats REAL, valid_nats REAL, unigram_nats REAL, floor_nats REAL, cache_mb REAL, secs REAL);")
    model = CallLM()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    insert("run_info", key="vocab", value=str(V))
    insert("run_info", key="params", value=str(n_params))
    insert("run_info", key="tokens_per_step", value=str(B * T))
    insert("run_info", key="head_chunks", value=str(B * T // CHUNK_ROWS))

    xb, yb = batch(np.random.default_rng(99), train, 32)
    lf, gf, mem_full = peak_of(loss_full, model, xb, yb)
    lc, gc, mem_chunk = peak_of(loss_chunked, model, xb, yb)
    gdiff = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in zip(tree_flatten(gf), tree_flatten(gc)))
    zero_leaves = sum(1 for _, g in tree_flatten(gc) if float(mx.abs(g).max()) == 0.0)
    insert("head_check", what="loss_full", value=float(lf.item()))
    insert("head_check", what="loss_chunked", value=float(lc.item()))
    insert("head_check", what="grad_maxdiff", value=gdiff)
    insert("head_check", what="zero_grad_leaves", value=float(zero_leaves))
    insert("head_check", what="backward_peak_mb_full", value=mem_full)
    insert("head_check", what="backward_peak_mb_chunked", value=mem_chunk)

    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARM), optim.cosine_decay(PEAK_LR, STEPS - WARM, END_LR)], [WARM]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_chunked)

    vx, vy = batch(np.random.default_rng(5), valid, 64)

    def valid_nats():
        tot = 0.0
        for s in range(0, 64, 32):
            tot += float(loss_chunked(model, vx[s:s + 32], vy[s:s + 32]).item())
        return tot / 2

    window = []
    for step in range(1, STEPS + 1):
        lr_now = float(sched(mx.array(step - 1)).item())
        x, y = batch(rng, train, B)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss.item()))
        if step in (1, 2, 10) or step % 40 == 0:
            insert(
                "train_log", step=step, lr=lr_now, train_nats=sum(window) / len(window), valid_nats=valid_nats(),
                unigram_nats=unigram, floor_nats=floor, cache_mb=mx.get_cache_memory() / 2**20,
                secs=round(time.time() - t0, 1),
            )
            window = []

    final = valid_nats()
    insert("run_info", key="final_valid_nats", value=f"{final:.4f}")
    insert("run_info", key="unigram_nats", value=f"{unigram:.4f}")
    insert("run_info", key="floor_nats", value=f"{floor:.4f}")
    insert("run_info", key="wall_secs", value=f"{time.time() - t0:.1f}")
    print("COMMIT;")


if __name__ == "__main__":
    main()
