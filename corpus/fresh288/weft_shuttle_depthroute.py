"""Tapestry loom weft log: next-colour model with a depth-routed middle block.

Each row of the log is 24 weft picks over 10 yarn colours. A weaver repeats the
pick from six picks back most of the time (pattern repeat), otherwise the next
colour follows a steady colour-to-colour habit table. A small transformer learns
the log; its second block only processes the 6 highest-scoring picks of each row
(capacity 25 %), the other picks pass straight through on the residual path.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, T, LAG, P_REPEAT = 10, 24, 6, 0.6
CAPACITY = 6
DIM, HEADS = 32, 4


def habit_table(rng):
    return rng.dirichlet(np.full(V, 0.35), size=V)


def weave_rows(n, table, rng):
    rows = np.zeros((n, T + 1), dtype=np.int64)
    rows[:, :LAG] = rng.integers(0, V, size=(n, LAG))
    for t in range(LAG, T + 1):
        rep = rng.random(n) < P_REPEAT
        cdf = np.cumsum(table[rows[:, t - 1]], axis=1)
        hab = np.minimum((rng.random((n, 1)) > cdf).sum(axis=1), V - 1)
        rows[:, t] = np.where(rep, rows[:, t - LAG], hab)
    return rows


def true_nll(rows, table):
    # exact per-pick NLL of the generating process on predicted positions >= LAG
    tot, cnt = 0.0, 0
    for t in range(LAG, T + 1):
        p = (1 - P_REPEAT) * table[rows[:, t - 1], rows[:, t]] + P_REPEAT * (rows[:, t] == rows[:, t - LAG])
        tot += -np.log(p).sum()
        cnt += len(rows)
    return tot / cnt


def habit_only_nll(rows, table):
    tot, cnt = 0.0, 0
    for t in range(LAG, T + 1):
        tot += -np.log(table[rows[:, t - 1], rows[:, t]]).sum()
        cnt += len(rows)
    return tot / cnt


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.LayerNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, HEADS)
        self.n2 = nn.LayerNorm(DIM)
        self.ff1 = nn.Linear(DIM, 4 * DIM)
        self.ff2 = nn.Linear(4 * DIM, DIM)

    def delta(self, x, mask):
        h = self.n1(x)
        a = self.attn(h, h, h, mask=mask)
        x2 = x + a
        return a + self.ff2(nn.gelu(self.ff1(self.n2(x2))))


class DepthRoutedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, DIM)
        self.pos = nn.Embedding(T, DIM)
        self.dense = Block()
        self.routed = Block()
        self.router = nn.Linear(DIM, 1)
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, V)

    def __call__(self, ids):
        B, L = ids.shape
        x = self.tok(ids) + self.pos(mx.arange(L))
        causal = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = x + self.dense.delta(x, causal)
        score = self.router(x)[..., 0]                                   # (B, L)
        top = mx.stop_gradient(mx.argpartition(-score, kth=CAPACITY - 1, axis=-1)[:, :CAPACITY])
        top = mx.sort(top, axis=-1)                                      # keep pick order
        x_sel = mx.take_along_axis(x, top[..., None], axis=1)            # (B, k, D)
        w = mx.sigmoid(mx.take_along_axis(score, top, axis=1))[..., None]
        d = self.routed.delta(x_sel, nn.MultiHeadAttention.create_additive_causal_mask(CAPACITY)) * w
        place = (top[..., None] == mx.arange(L)[None, None, :]).astype(x.dtype)  # (B, k, L)
        x = x + mx.swapaxes(place, 1, 2) @ d
        return self.head(self.norm(x)), top


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    table = habit_table(rng)
    train = weave_rows(4000, table, rng)
    val = weave_rows(500, table, rng)
    floor = true_nll(val, table)
    habit = habit_only_nll(val, table)
    uni = np.bincount(train[:, 1:].ravel(), minlength=V) / train[:, 1:].size
    unigram = float(-np.log(uni[val[:, LAG:]]).mean())
    print("[weft] loom log: 4000 train rows, 500 val rows, 24 picks, 10 colours")
    print(f"[weft] yardsticks (nats/pick, picks >= {LAG}): colour frequency {unigram:.3f} | habit table alone {habit:.3f} | generating process {floor:.3f}")

    model = DepthRoutedLM()
    mx.eval(model.parameters())
    steps, warm = 300, 40
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 1e-4)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)

    def loss_fn(m, x, y):
        logits, _ = m(x)
        return nn.losses.cross_entropy(logits[:, LAG - 1:], y[:, LAG - 1:], reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    Xv, Yv = mx.array(val[:, :-1]), mx.array(val[:, 1:])

    def evaluate():
        logits, top = model(Xv)
        ce = nn.losses.cross_entropy(logits[:, LAG - 1:], Yv[:, LAG - 1:], reduction="mean").item()
        share = CAPACITY / T
        counts = np.bincount(np.array(top).ravel(), minlength=T) / len(val)
        return ce, share, counts

    ce0, _, _ = evaluate()
    print(f"[weft] untrained val {ce0:.3f} nats/pick")
    batch = 32
    w_before = np.array(model.head.weight)
    t0 = time.time()
    window = []
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, len(train), size=batch))
        rows = mx.array(train)[idx]
        lr_now = float(sched(opt.step))
        loss, grads = vg(model, rows[:, :-1], rows[:, 1:])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1:
            moved = float(np.abs(np.array(model.head.weight) - w_before).max())
            gnorm = math.sqrt(sum(float((g * g).sum()) for _, g in nn.utils.tree_flatten(grads)))
            print(f"[weft] step 1 ran at lr {lr_now:.1e}: grad norm {gnorm:.3f}, largest head weight change {moved:.1e}")
        if step % 60 == 0:
            ce, share, counts = evaluate()
            busiest = ",".join(str(i) for i in np.argsort(-counts)[:4])
            print(f"[weft] step {step:3d} lr {lr_now:.2e} train {np.mean(window):.3f} val {ce:.3f} "
                  f"(floor {floor:.3f}, habit {habit:.3f}) routed {100 * share:.1f}% busiest picks {busiest} {time.time() - t0:.1f}s")
            window = []
    ce, _, counts = evaluate()
    print(f"[weft] done: val {ce:.3f} nats/pick, {ce - floor:+.3f} above the generating process, {habit - ce:.3f} below habit-alone")


if __name__ == "__main__":
    main()
