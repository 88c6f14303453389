# Bigram LM fine-tune with gradient accumulation over length-bucketed micro-batches
# (mirrors the mlx-lm trainer: default_loss returns (ce.sum()/ntoks, ntoks),
#  batches are sorted by length and the batch order is shuffled).
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

V = 12
random.seed(3)
mx.random.seed(3)


def chain(conc):
    rows = []
    for _ in range(V):
        w = [random.gammavariate(conc, 1.0) for _ in range(V)]
        s = sum(w)
        rows.append([x / s for x in w])
    return rows


def sample_seq(P, n):
    t = random.randrange(V)
    out = [t]
    for _ in range(n - 1):
        r, acc = random.random(), 0.0
        for j, p in enumerate(P[t]):
            acc += p
            if r <= acc:
                break
        t = j
        out.append(t)
    return out


A, B = chain(0.3), chain(0.3)
short = [sample_seq(A, 3) for _ in range(64)]   # 2 targets each
long_ = [sample_seq(B, 33) for _ in range(64)]  # 32 targets each
data = sorted(short + long_, key=len)
MB = 8
batches = [mx.array(data[i:i + MB]) for i in range(0, len(data), MB)]

# count-model floor: token-weighted conditional entropy of the whole set
cnt = [[0] * V for _ in range(V)]
for s in data:
    for a, b in zip(s[:-1], s[1:]):
        cnt[a][b] += 1
tot = sum(map(sum, cnt))
floor = -sum(c * math.log(c / sum(row)) for row in cnt for c in row if c) / tot


class Bigram(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.out = nn.Linear(32, V)

    def __call__(self, x):
        return self.out(nn.gelu(self.emb(x)))


def default_loss(model, batch):
    inp, tgt = batch[:, :-1], batch[:, 1:]
    ce = nn.losses.cross_entropy(model(inp), tgt)
    ntoks = tgt.size
    return ce.sum() / ntoks, ntoks


model = Bigram()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=0.03)
loss_and_grad = nn.value_and_grad(model, lambda m, b: default_loss(m, b)[0])

K = 4
EPOCHS = 90
step = 0
for ep in range(EPOCHS):
    order = list(range(len(batches)))
    random.shuffle(order)
    for w in range(0, len(order), K):
        window = [batches[i] for i in order[w:w + K]]
        acc, ntot, lsum = None, 0, 0.0
        for b in window:
            lval, g = loss_and_grad(model, b)
            n = b[:, 1:].size
            acc = g if acc is None else tree_map(mx.add, acc, g)
            ntot += n
            lsum += lval.item() * n
        grad = tree_map(lambda x: x / len(window), acc)
        if step % 30 == 0:
            # audit: gradient of the token-mean loss over the whole window
            def wloss(m):
                return sum(default_loss(m, b)[0] * b[:, 1:].size for b in window) / ntot
            _, gref = nn.value_and_grad(model, wloss)(model)
            d = sum(mx.sum((a - r) ** 2).item() for (_, a), (_, r) in
                    zip(tree_flatten(grad), tree_flatten(gref)))
            nr = sum(mx.sum(r ** 2).item() for _, r in tree_flatten(gref))
            print(f"step {step:4d} | window toks {ntot:4d} | loss {lsum / ntot:.4f} | "
                  f"audit |g-g_ref|/|g_ref| = {math.sqrt(d / nr):.3e}")
        opt.update(model, grad)
        mx.eval(model.parameters(), opt.state)
        step += 1

# evaluation: token-weighted over the whole set (as mlx-lm evaluate() does)
s, n = 0.0, 0
for b in batches:
    l, k = default_loss(model, b)
    s += l.item() * k
    n += k
ev = s / n
print(f"final eval token-mean CE {ev:.4f} | count-model floor {floor:.4f} | gap {ev - floor:+.4f}")
