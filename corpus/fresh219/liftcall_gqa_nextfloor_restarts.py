"""Next-floor prediction for a 12-stop passenger lift from its call log.

Tiny causal transformer with grouped-query attention (4 query heads share
2 key/value heads). Two traffic regimes are trained one after the other
(morning up-peak, then the lunchtime two-way pattern), with cosine warm
restarts whose warm-up starts from a learning rate of exactly 0.
One JSON object per log line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
FLOORS, SEQ, DIM, NQ, NKV, BATCH = 12, 24, 48, 4, 2, 48
CAFE = 7


def morning(n):
    # lobby -> tenant floor -> lobby -> ...; tenant floor drifts upward by 1..2
    f = mx.random.randint(1, FLOORS, (n, 1))
    step = mx.random.randint(1, 3, (n, 1))
    k = mx.arange(SEQ + 1)[None]
    up = 1 + (f - 1 + step * (k // 2)) % (FLOORS - 1)
    return mx.where(k % 2 == 0, 0, up)


def lunch(n):
    # origin -> cafeteria -> same origin -> next origin -> cafeteria -> ...
    origins = mx.random.randint(1, FLOORS, (n, (SEQ + 1) // 3 + 1))
    origins = mx.where(origins == CAFE, 0, origins)
    k = mx.arange(SEQ + 1)
    which = k // 3
    o = mx.take(origins, which, axis=1)
    return mx.where((k % 3 == 1)[None], CAFE, o)


class GQAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.hd = DIM // NQ
        self.q = nn.Linear(DIM, NQ * self.hd, bias=False)
        self.k = nn.Linear(DIM, NKV * self.hd, bias=False)
        self.v = nn.Linear(DIM, NKV * self.hd, bias=False)
        self.o = nn.Linear(NQ * self.hd, DIM, bias=False)

    def __call__(self, x):
        B, L, _ = x.shape
        q = self.q(x).reshape(B, L, NQ, self.hd).transpose(0, 2, 1, 3)
        k = self.k(x).reshape(B, L, NKV, self.hd).transpose(0, 2, 1, 3)
        v = self.v(x).reshape(B, L, NKV, self.hd).transpose(0, 2, 1, 3)
        y = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.hd ** -0.5, mask="causal")
        return self.o(y.transpose(0, 2, 1, 3).reshape(B, L, -1))


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.RMSNorm(DIM)
        self.n2 = nn.RMSNorm(DIM)
        self.att = GQAttention()
        self.mlp = nn.Sequential(nn.Linear(DIM, 3 * DIM), nn.SiLU(), nn.Linear(3 * DIM, DIM))

    def __call__(self, x):
        x = x + self.att(self.n1(x))
        return x + self.mlp(self.n2(x))


class LiftLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(FLOORS, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.layers = [Layer(), Layer()]
        self.norm = nn.RMSNorm(DIM)
        self.out = nn.Linear(DIM, FLOORS)

    def __call__(self, x):
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        for l in self.layers:
            h = l(h)
        return self.out(self.norm(h))


def lr_at(i, cycle, peak, warm):
    t = i % cycle
    if t < warm:
        return peak * t / warm  # exactly 0.0 at the start of every cycle
    return 0.5 * peak * (1 + math.cos(math.pi * (t - warm) / (cycle - warm)))


model = LiftLM()
opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)


def nll(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, nll)

# reference: unigram floor-frequency model NLL for each regime
def unigram_nll(gen):
    s = gen(2000)[:, 1:].reshape(-1)
    p = mx.bincount(s, length=FLOORS).astype(mx.float32) if hasattr(mx, "bincount") else None
    if p is None:
        p = (s[:, None] == mx.arange(FLOORS)[None]).sum(0).astype(mx.float32)
    p = (p + 1) / (p.sum() + FLOORS)
    return float(-(mx.log(p[s])).mean())


ref = {"morning": unigram_nll(morning), "lunch": unigram_nll(lunch)}
held = {name: g(256) for name, g in (("morning", morning), ("lunch", lunch))}

t0 = time.time()
step = 0
for regime, gen, n_steps in (("morning", morning, 120), ("lunch", lunch, 180)):
    for i in range(n_steps):
        lr = lr_at(i, 60, 3e-3, 8)
        opt.learning_rate = lr
        seq = gen(BATCH)
        loss, g = grad_fn(model, seq[:, :-1], seq[:, 1:])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if i % 20 == 0 or i == n_steps - 1:
            rec = {"step": step, "regime": regime, "cycle_pos": i % 60, "lr": round(lr, 6),
                   "nll": round(loss.item(), 4)}
            for name, hs in held.items():
                logits = model(hs[:, :-1])
                rec[f"top1_{name}_pct"] = round(100 * float((logits.argmax(-1) == hs[:, 1:]).mean()), 1)
            rec["unigram_nll_ref"] = round(ref[regime], 4)
            rec["wall_s"] = round(time.time() - t0, 1)
            print(json.dumps(rec), flush=True)
