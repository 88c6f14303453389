"""Lighthouse light-characteristic classifier from variable-length photometer logs.

Each log is 12..40 brightness samples of one light seen from a boat; the light is
one of five characters (fixed, flashing, occulting, isophase, quick). Logs are
LEFT-padded to the bucket length of their batch; a key mask and position ids counted
from the first real sample keep the padding out of attention and pooling.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["fixed", "flashing", "occulting", "isophase", "quick"]
MAXLEN = 40
rng = np.random.default_rng(7)


def one_log(c):
    n = int(rng.integers(12, MAXLEN + 1))
    t = np.arange(n) + rng.uniform(0, 20)
    if c == 0:
        on = np.ones(n)
    elif c == 1:
        per = rng.uniform(6, 10); on = ((t % per) < per * 0.2).astype(float)
    elif c == 2:
        per = rng.uniform(6, 10); on = ((t % per) < per * 0.8).astype(float)
    elif c == 3:
        per = rng.uniform(5, 9); on = ((t % per) < per * 0.5).astype(float)
    else:
        per = rng.uniform(2.0, 3.0); on = ((t % per) < per * 0.5).astype(float)
    haze = rng.uniform(0.5, 1.0)
    x = on * haze + rng.normal(0, 0.15, n)
    x[rng.random(n) < 0.04] = 0.0          # swell hides the lamp now and then
    feats = np.stack([x, np.abs(np.diff(x, prepend=x[0]))], -1)
    return feats.astype(np.float32)


def make_set(m):
    ys = rng.integers(0, 5, m)
    return [one_log(int(c)) for c in ys], ys


def collate(logs, L):
    B = len(logs)
    X = np.zeros((B, L, 2), np.float32)
    M = np.zeros((B, L), np.float32)
    for i, s in enumerate(logs):
        n = len(s)
        X[i, L - n:] = s
        M[i, L - n:] = 1.0
    pos = np.clip(np.cumsum(M, 1) - 1, 0, None).astype(np.int32)
    return mx.array(X), mx.array(M), mx.array(pos)


class FlashNet(nn.Module):
    def __init__(self, d=32, heads=4):
        super().__init__()
        self.inp = nn.Linear(2, d)
        self.pos = nn.Embedding(MAXLEN, d)
        self.norm1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.norm2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.head = nn.Linear(d, len(CLASSES))

    def __call__(self, x, m, pos):
        h = self.inp(x) + self.pos(pos)
        keymask = mx.where(m[:, None, None, :] > 0, 0.0, -1e9).astype(h.dtype)
        z = self.norm1(h)
        h = h + self.attn(z, z, z, mask=keymask)
        h = h + self.ff(self.norm2(h))
        pooled = (h * m[..., None]).sum(1) / m.sum(1, keepdims=True)
        return self.head(pooled)


def loss_fn(model, x, m, pos, y):
    return nn.losses.cross_entropy(model(x, m, pos), y, reduction="mean")


def bucket(n):
    return int(8 * np.ceil(n / 8))


def evaluate(model, logs, ys, bs=250):
    tot, hit = 0.0, 0
    for i in range(0, len(logs), bs):
        chunk = logs[i:i + bs]
        x, m, p = collate(chunk, bucket(max(len(s) for s in chunk)))
        lg = model(x, m, p)
        y = mx.array(ys[i:i + bs])
        tot += nn.losses.cross_entropy(lg, y, reduction="sum").item()
        hit += (lg.argmax(-1) == y).sum().item()
    return tot / len(logs), 100.0 * hit / len(logs)


def main():
    t0 = time.time()
    mx.random.seed(3)
    train_logs, train_y = make_set(2000)
    val_logs, val_y = make_set(600)
    prior = np.bincount(train_y, minlength=5) / len(train_y)
    print(f"# logs train={len(train_logs)} val={len(val_logs)} "
          f"len {min(map(len, train_logs))}..{max(map(len, train_logs))}; "
          f"class-prior CE {-(prior * np.log(prior)).sum():.3f} nats, chance acc 20.0%")

    model = FlashNet()
    mx.eval(model.parameters())
    epochs, bs = 5, 40
    steps_per_epoch = len(train_logs) // bs
    total = epochs * steps_per_epoch
    warm = steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 5e-5)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    grad_fn = nn.value_and_grad(model, loss_fn)

    order = np.argsort([len(s) for s in train_logs], kind="stable")
    chunks = [order[i:i + bs] for i in range(0, len(order), bs)]

    v0, a0 = evaluate(model, val_logs, val_y)
    print("epoch\tlr_end\ttrain_ce\tval_ce\tval_acc%\tsec")
    print(f"0\t-\t-\t{v0:.4f}\t{a0:.1f}\t{time.time() - t0:.1f}")
    step = 0
    for ep in range(1, epochs + 1):
        rng.shuffle(chunks)
        run = 0.0
        for idx in chunks:
            logs = [train_logs[i] for i in idx]
            x, m, p = collate(logs, bucket(max(len(s) for s in logs)))
            y = mx.array(train_y[idx])
            loss, g = grad_fn(model, x, m, p, y)
            if step == 0:
                leaves = tree_flatten(g)
                zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
                print(f"# first batch: {len(leaves)} gradient leaves, all-zero: {zero}, lr {float(sched(0)):.1e}")
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
        vl, va = evaluate(model, val_logs, val_y)
        print(f"{ep}\t{float(sched(step)):.2e}\t{run / len(chunks):.4f}\t{vl:.4f}\t{va:.1f}\t{time.time() - t0:.1f}")

    sample = val_logs[:16]
    short = [s[: max(12, len(s) // 2)] for s in sample]
    xs, ms, ps = collate(short, bucket(max(len(s) for s in short)))
    xl, ml, pl = collate(short, MAXLEN)
    d = mx.abs(model(xs, ms, ps) - model(xl, ml, pl)).max().item()
    print(f"# padding check: logits at bucket length vs length {MAXLEN}, max |diff| {d:.2e}")
    print(f"# done in {time.time() - t0:.1f}s, final val acc {va:.1f}% (chance 20.0%)")


if __name__ == "__main__":
    main()
