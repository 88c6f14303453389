"""Character GRU on synthetic shop-ledger lines, with a sequence-length curriculum
(16 -> 32 -> 64 chars) and a frozen random embedding table. Reports bits per char."""
import logging
import math
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("ledger")

ITEMS = ["flour", "eggs", "milk", "salt", "yeast", "butter", "sugar", "oats"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat"]


def ledger_text(n_lines, seed):
    r = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        d = r.choice(DAYS)
        it = r.choice(ITEMS)
        q = r.randint(1, 12)
        price = ITEMS.index(it) + 2
        lines.append(f"{d} {it} x{q} = {q * price}.\n")
    return "".join(lines)


class CharGRU(nn.Module):
    def __init__(self, vocab, emb=24, hidden=96):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)   # fixed random code table, frozen below
        self.rnn = nn.GRU(emb, hidden)
        self.head = nn.Linear(hidden, vocab)

    def __call__(self, x):
        return self.head(self.rnn(self.embed(x)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def batches(ids, seq_len, bs, rng):
    starts = rng.integers(0, len(ids) - seq_len - 1, size=bs)
    x = np.stack([ids[s:s + seq_len] for s in starts])
    y = np.stack([ids[s + 1:s + seq_len + 1] for s in starts])
    return mx.array(x), mx.array(y)


def evaluate(model, ids, seq_len, n=8, bs=32):
    rng = np.random.default_rng(1234)  # same windows every time
    tot = 0.0
    for _ in range(n):
        x, y = batches(ids, seq_len, bs, rng)
        tot += loss_fn(model, x, y).item()
    return tot / n / math.log(2)


def main():
    t0 = time.time()
    train_txt, val_txt = ledger_text(3000, 1), ledger_text(400, 2)
    chars = sorted(set(train_txt + val_txt))
    stoi = {c: i for i, c in enumerate(chars)}
    tr = np.array([stoi[c] for c in train_txt], dtype=np.int32)
    va = np.array([stoi[c] for c in val_txt], dtype=np.int32)

    mx.random.seed(3)
    model = CharGRU(len(chars))
    model.embed.freeze()
    mx.eval(model.parameters())
    emb_before = np.array(model.embed.weight)

    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("vocab=%d trainable=%d of %d params (embedding frozen)", len(chars), n_train, n_all)

    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    vg = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(0)

    x0, y0 = batches(tr, 16, 32, rng)
    _, g0 = vg(model, x0, y0)
    flat = tree_flatten(g0)
    log.info("first-step grads: %d trainable leaves, %d non-zero",
             len(flat), sum(int(mx.any(v != 0).item()) for _, v in flat))

    schedule = [(16, 150), (32, 150), (64, 150)]   # (seq_len, steps)
    step = 0
    for seq_len, n_steps in schedule:
        log.info("curriculum stage: seq_len=%d (val bpc at this length %.3f)",
                 seq_len, evaluate(model, va, seq_len))
        window = []
        for _ in range(n_steps):
            x, y = batches(tr, seq_len, 32, rng)
            loss, grads = vg(model, x, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            step += 1
            if step % 50 == 0:
                log.info("step %4d len %2d train_bpc %.3f val_bpc %.3f",
                         step, seq_len, np.mean(window) / math.log(2),
                         evaluate(model, va, seq_len))
                window = []

    drift = float(np.abs(np.array(model.embed.weight) - emb_before).max())
    log.info("done in %.1fs; final val bpc (len 64) %.3f; embedding max drift %.1e",
             time.time() - t0, evaluate(model, va, 64), drift)


if __name__ == "__main__":
    main()
