"""Word-level causal convolution LM over bus timetable rows.

Rows are tokenised once and written into three in-memory shards.  A streaming
iterator walks the shards round-robin, buffers rows, sorts each buffer by
length and cuts it into length buckets; every batch is right-padded and the
pad positions are masked out of the loss.  Progress goes out as Graphite
plaintext metrics ("path value timestamp"), only every 100 steps.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
BATCH = 32
BUFFER = 512
STEPS = 400
WARMUP = 60
CUT = 250
T0 = 1_767_225_600


def build_vocab():
    toks = ["<pad>", "<bos>", "<eos>"]
    toks += [f"R{r}" for r in range(1, 9)]
    toks += [f"S{s:02d}" for s in range(24)]
    toks += [f"{h:02d}{m:02d}" for h in range(5, 24) for m in range(0, 60, 5)]
    toks += ["+05", "+10", "+15", "+20", "+30"]
    return toks, {t: i for i, t in enumerate(toks)}


HEADWAYS = {1: [10], 2: [15], 3: [10, 20], 4: [30], 5: [15, 15, 30], 6: [5, 10], 7: [20], 8: [10, 15]}


def timetable_row(rng):
    route = int(rng.integers(1, 9))
    stop = int(rng.integers(0, 24))
    start = int(rng.integers(5 * 12, 10 * 12)) * 5
    n = int(rng.integers(3, 26))
    row = ["<bos>", f"R{route}", f"S{stop:02d}", f"{start // 60:02d}{start % 60:02d}"]
    pattern = HEADWAYS[route]
    for k in range(n):
        row.append(f"+{pattern[k % len(pattern)]:02d}")
    row.append("<eos>")
    return row


def make_shards(n_rows, n_shards, stoi, rng):
    shards = [[] for _ in range(n_shards)]
    for i in range(n_rows):
        shards[i % n_shards].append(np.array([stoi[t] for t in timetable_row(rng)], dtype=np.int32))
    return shards


def stream_batches(shards, rng):
    """Endless round-robin over shards; each pass reshuffles every shard."""
    epoch = 0
    while True:
        orders = [rng.permutation(len(s)) for s in shards]
        pos = [0] * len(shards)
        buf = []
        while any(p < len(s) for p, s in zip(pos, shards)):
            for k, s in enumerate(shards):
                if pos[k] < len(s):
                    buf.append(s[orders[k][pos[k]]])
                    pos[k] += 1
            if len(buf) >= BUFFER:
                yield from bucketise(buf, rng, epoch)
                buf = []
        if buf:
            yield from bucketise(buf, rng, epoch)
        epoch += 1


def bucketise(rows, rng, epoch):
    rows = sorted(rows, key=len)
    batches = [rows[i:i + BATCH] for i in range(0, len(rows), BATCH)]
    for j in rng.permutation(len(batches)):
        yield pad_batch(batches[j]) + (epoch,)


def pad_batch(rows):
    L = max(len(r) for r in rows)
    arr = np.zeros((len(rows), L), dtype=np.int32)
    for i, r in enumerate(rows):
        arr[i, :len(r)] = r
    x, y = arr[:, :-1], arr[:, 1:]
    mask = (y != 0).astype(np.float32)
    return x, y, mask


class CausalConvLM(nn.Module):
    def __init__(self, vocab, dim=32, kernel=4, layers=2):
        super().__init__()
        self.kernel = kernel
        self.embed = nn.Embedding(vocab, dim)
        self.convs = [nn.Conv1d(dim, dim, kernel) for _ in range(layers)]
        self.norms = [nn.LayerNorm(dim) for _ in range(layers)]
        self.head = nn.Linear(dim, vocab)

    def __call__(self, x):
        h = self.embed(x)
        for conv, norm in zip(self.convs, self.norms):
            z = mx.pad(norm(h), [(0, 0), (self.kernel - 1, 0), (0, 0)])
            h = h + nn.gelu(conv(z))
        return self.head(h)


def loss_terms(model, x, y, m):
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    return (ce * m).sum(), m.sum()


def loss_fn(model, x, y, m):
    s, c = loss_terms(model, x, y, m)
    return s / c


def eval_nats(model, rows):
    tot, cnt = 0.0, 0.0
    rows = sorted(rows, key=len)
    for i in range(0, len(rows), 128):
        x, y, m = pad_batch(rows[i:i + 128])
        s, c = loss_terms(model, mx.array(x), mx.array(y), mx.array(m))
        mx.eval(s, c)
        tot += s.item()
        cnt += c.item()
    return tot / cnt


def emit(path, value, step):
    print(f"depot.timetable.{path} {value:.6g} {T0 + step}")


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    toks, stoi = build_vocab()
    shards = make_shards(6000, 3, stoi, rng)
    valid = [np.array([stoi[t] for t in timetable_row(rng)], dtype=np.int32) for _ in range(400)]

    counts = np.bincount(np.concatenate([r[1:] for s in shards for r in s]), minlength=len(toks)) + 1
    p = counts / counts.sum()
    unigram = float(np.mean(np.concatenate([-np.log(p[r[1:]]) for r in valid])))

    model = CausalConvLM(len(toks))
    mx.eval(model.parameters())
    def lr_at(step):
        warm = 2e-3 * step.astype(mx.float32) / WARMUP
        return mx.where(step < WARMUP, warm, mx.where(step < CUT, 2e-3, 4e-4))

    opt = optim.Adam(learning_rate=lr_at)
    lossgrad = nn.value_and_grad(model, loss_fn)

    emit("data.rows", sum(len(s) for s in shards), 0)
    emit("data.vocab", len(toks), 0)
    emit("baseline.unigram_nats", unigram, 0)
    emit("valid.nats", eval_nats(model, valid), 0)

    batches = stream_batches(shards, rng)
    t0 = time.time()
    win_loss, win_tok, pad_share = [], 0, []
    lr_cut_done = False
    for step in range(1, STEPS + 1):
        x, y, m, epoch = next(batches)
        xb, yb, mb = mx.array(x), mx.array(y), mx.array(m)
        if step == CUT + 1 and not lr_cut_done:
            lr_cut_done = True
            emit("event.lr_cut", 4e-4, step)
        lr_now = float(opt.learning_rate.item())
        loss, grads = lossgrad(model, xb, yb, mb)
        if step == 1:
            leaves = tree_flatten(grads)
            emit("gradcheck.leaves", len(leaves), step)
            emit("gradcheck.nonzero", sum(1 for _, g in leaves if float(mx.abs(g).sum().item()) > 0), step)
            emit("gradcheck.lr", lr_now, step)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        win_loss.append(loss.item())
        win_tok += int(m.sum())
        pad_share.append(1.0 - m.mean())
        if step % 80 == 0 or step == 1:
            emit("train.nats", float(np.mean(win_loss)), step)
            emit("train.lr", lr_now, step)
            emit("train.tokens", win_tok, step)
            emit("train.pad_pct", 100.0 * float(np.mean(pad_share)), step)
            emit("train.stream_epoch", epoch, step)
            emit("valid.nats", eval_nats(model, valid), step)
            emit("baseline.unigram_nats", unigram, step)
            emit("wall.secs", time.time() - t0, step)
            win_loss, win_tok, pad_share = [], 0, []
    emit("done.valid_nats", eval_nats(model, valid), STEPS)


if __name__ == "__main__":
    main()
