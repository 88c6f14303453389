"""Character LM over synthetic heraldic blazons, tied input/output embeddings.

Stage 1 trains on short blazons (field + one charge); stage 2 switches to long
blazons with ordinaries and tinctures, so the loss jumps before it falls again.
Each stage warms its learning rate up from exactly 0.
"""
import json
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
mx.random.seed(7)

TINCT = ["azure", "gules", "vert", "sable", "purpure", "or", "argent"]
ORD = ["a bend", "a fess", "a pale", "a chevron", "a saltire", "a cross"]
CHG = ["a lion rampant", "three mullets", "an eagle displayed", "two keys", "a tower"]


def blazon(long):
    f = random.choice(TINCT)
    c = random.choice([t for t in TINCT if (t in ("or", "argent")) != (f in ("or", "argent"))])
    if not long:
        return f"{f.capitalize()}, {random.choice(CHG)} {c}."
    o = random.choice(ORD)
    c2 = random.choice(TINCT)
    return f"{f.capitalize()}, {o} {c} between {random.choice(CHG)} {c2}."


short = [blazon(False) for _ in range(260)]
long_ = [blazon(True) for _ in range(260)]
chars = sorted(set("".join(short + long_)) | {"^"})
stoi = {ch: i for i, ch in enumerate(chars)}
V = len(chars)
CTX = 12


def windows(texts):
    xs, ys = [], []
    for t in texts:
        s = "^" * CTX + t
        for i in range(CTX, len(s)):
            xs.append([stoi[ch] for ch in s[i - CTX:i]])
            ys.append(stoi[s[i]])
    return mx.array(xs), mx.array(ys)


class TiedCharLM(nn.Module):
    def __init__(self, vocab, dim=32, hidden=96):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = mx.random.normal((CTX, dim)) * 0.02
        self.mix = nn.Linear(CTX * dim, hidden)
        self.back = nn.Linear(hidden, dim)
        self.norm = nn.LayerNorm(dim)

    def __call__(self, x):
        h = self.embed(x) + self.pos
        h = h.reshape(h.shape[0], -1)
        h = self.norm(self.back(nn.gelu(self.mix(h))))
        return self.embed.as_linear(h)  # tied output projection


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def unigram_ppl(ytr, yva):
    counts = mx.zeros((V,)).at[ytr].add(1.0) + 1.0
    logp = mx.log(counts / counts.sum())
    return math.exp(-logp[yva].mean().item())


model = TiedCharLM(V)
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)

# one-time audit that the tied matrix receives gradient from both uses
x0, y0 = windows(short[:8])
_, g0 = vg(model, x0, y0)
print(json.dumps({"event": "audit", "vocab": V,
                  "grad_norm_embed": round(mx.linalg.norm(g0["embed"]["weight"]).item(), 4),
                  "grad_norm_mix": round(mx.linalg.norm(g0["mix"]["weight"]).item(), 4)}))

stages = [("short", short, 4, 3e-3), ("long", long_, 5, 2e-3)]
t0 = time.time()
for sname, texts, epochs, peak in stages:
    tr, va = texts[:220], texts[220:]
    xtr, ytr = windows(tr)
    xva, yva = windows(va)
    n = xtr.shape[0]
    bs = 256
    steps = epochs * ((n + bs - 1) // bs)
    warm = max(1, steps // 6)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-5)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    base = unigram_ppl(ytr, yva)
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
            cnt += idx.shape[0]
        vl = loss_fn(model, xva, yva).item()
        print(json.dumps({"stage": sname, "epoch": ep, "lr": round(float(opt.learning_rate.item()), 6),
                          "train_nll": round(tot / cnt, 4), "val_ppl": round(math.exp(vl), 3),
                          "unigram_ppl": round(base, 3)}))

model.eval()
ctx = [stoi["^"]] * CTX
out = ""
for _ in range(60):
    nxt = mx.argmax(model(mx.array([ctx]))[0]).item()
    out += chars[nxt]
    ctx = ctx[1:] + [nxt]
    if chars[nxt] == ".":
        break
print(json.dumps({"event": "done", "sample": out, "seconds": round(time.time() - t0, 1)}))
