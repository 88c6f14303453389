"""Read English number words ("three hundred forty-two") and predict the three digits.

Char-level nn.GRU encoder, three 10-way heads (hundreds / tens / units), AdamW with
gradient clipping, compiled step. Progress is written like a docker BuildKit plain log.
"""
import random
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def words(n):
    h, r = divmod(n, 100)
    parts = []
    if h:
        parts.append(ONES[h] + " hundred")
    if r or not h:
        if r < 10:
            parts.append(ONES[r])
        elif r < 20:
            parts.append(TEENS[r - 10])
        else:
            t, u = divmod(r, 10)
            parts.append(TENS[t] + ("-" + ONES[u] if u else ""))
    if h and r and random.random() < 0.5:
        parts.insert(1, "and")
    return " ".join(parts)


CHARS = sorted(set("abcdefghijklmnopqrstuvwxyz -"))
CID = {c: i + 1 for i, c in enumerate(CHARS)}  # 0 = pad
MAXLEN = 32


def encode(s):
    ids = [CID[c] for c in s][:MAXLEN]
    return ids + [0] * (MAXLEN - len(ids)), len(ids)


class Reader(nn.Module):
    def __init__(self, vocab, dim=24, hidden=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, hidden)
        self.heads = [nn.Linear(hidden, 10) for _ in range(3)]

    def __call__(self, x, lengths):
        h = self.gru(self.emb(x))                       # B, L, H
        idx = (lengths - 1)[:, None, None]
        last = mx.take_along_axis(h, mx.broadcast_to(idx, (h.shape[0], 1, h.shape[2])), axis=1)[:, 0]
        return mx.stack([head(last) for head in self.heads], axis=1)  # B, 3, 10


def make_set(nums):
    xs, ls, ys = [], [], []
    for n in nums:
        ids, l = encode(words(n))
        xs.append(ids); ls.append(l); ys.append([n // 100, (n // 10) % 10, n % 10])
    return mx.array(xs), mx.array(ls), mx.array(ys)


def main():
    random.seed(3); mx.random.seed(3)
    t0 = time.time()
    log = lambda step, msg: print(f"#{step} {time.time() - t0:5.1f} {msg}", flush=True)

    nums = list(range(1000)); random.shuffle(nums)
    test_nums, train_nums = nums[:150], nums[150:]
    Xte, Lte, Yte = make_set(test_nums)
    log(1, f"[internal] load corpus: {len(train_nums)} train numbers, {len(test_nums)} held out")
    log(1, "DONE 0.0s")

    model = Reader(len(CHARS) + 1)
    mx.eval(model.parameters())

    def loss_fn(m, x, l, y):
        return nn.losses.cross_entropy(m(x, l), y, reduction="mean")

    opt = optim.AdamW(learning_rate=optim.cosine_decay(4e-3, 156, 2e-4), weight_decay=0.01)

    # first-step gradient audit
    Xb, Lb, Yb = make_set(train_nums[:64])
    _, g0 = nn.value_and_grad(model, loss_fn)(model, Xb, Lb, Yb)
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    log(2, f"[gradcheck] {len(leaves)} leaves, zero-gradient leaves: {zero if zero else 'none'}")
    log(2, "DONE 0.1s")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, l, y):
        loss, g = nn.value_and_grad(model, loss_fn)(model, x, l, y)
        g, gn = optim.clip_grad_norm(g, 1.0)
        opt.update(model, g)
        return loss, gn

    def evaluate():
        logits = model(Xte, Lte)
        pred = mx.argmax(logits, axis=-1)
        digit_acc = (pred == Yte).astype(mx.float32).mean()
        exact = mx.all(pred == Yte, axis=1).astype(mx.float32).mean()
        ce = nn.losses.cross_entropy(logits, Yte, reduction="mean")
        return ce.item(), digit_acc.item(), exact.item()

    ce, da, ex = evaluate()
    log(3, f"[eval 0/12] held-out ce={ce:.3f} digit_acc={da:.3f} exact={ex:.3f} (chance digit 0.100)")

    bs, epochs, it = 64, 12, 0
    for ep in range(1, epochs + 1):
        te = time.time()
        random.shuffle(train_nums)
        run, cnt = 0.0, 0
        for i in range(0, len(train_nums) - bs + 1, bs):
            x, l, y = make_set(train_nums[i:i + bs])   # fresh 'and' phrasing every epoch
            loss, gn = step(x, l, y)
            mx.eval(loss, model.state, opt.state)
            run += loss.item(); cnt += 1; it += 1
        ce, da, ex = evaluate()
        lr = opt.learning_rate.item()
        log(ep + 3, f"[train {ep:2d}/{epochs}] steps={it} train_ce={run / cnt:.3f} "
                    f"held_ce={ce:.3f} digit_acc={da:.3f} exact={ex:.3f} lr={lr:.2e} |g|={gn.item():.2f}")
        log(ep + 3, f"DONE {time.time() - te:.1f}s")

    for n in test_nums[:4]:
        x, l, _ = make_set([n])
        d = mx.argmax(model(x, l), axis=-1)[0].tolist()
        log(epochs + 4, f"[predict] {words(n)!r:38s} -> {d[0]}{d[1]}{d[2]} (true {n:03d})")
    log(epochs + 4, "exporting to stdout: done")


if __name__ == "__main__":
    main()
