# Hot-metal type foundry: learn an embedding of worn/misprinted sorts so that
# impressions of the same letter land together (contrastive, two views).
import json
import math
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)
H, W, N_LETTERS = 9, 7, 26

# 26 random "letter" prototypes on a 9x7 grid (about 40% ink)
protos = (mx.random.uniform(shape=(N_LETTERS, H, W)) < 0.4).astype(mx.float32)


def impress(letters, flip=0.08, dx=None, dy=None):
    """One impression per letter id: random 1-px shift, worn pixels flipped."""
    g = protos[letters]
    dx = random.choice([-1, 0, 1]) if dx is None else dx
    dy = random.choice([-1, 0, 1]) if dy is None else dy
    g = mx.roll(mx.roll(g, dx, axis=2), dy, axis=1)
    noise = mx.random.uniform(shape=g.shape) < flip
    g = mx.where(noise, 1.0 - g, g)
    return g.reshape(g.shape[0], -1)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(H * W, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU())
        self.head = nn.Linear(96, 24)

    def __call__(self, x):
        z = self.head(self.body(x))
        return z / mx.sqrt(mx.sum(z * z, axis=1, keepdims=True) + 1e-8)


TAU = 0.2


def losses(model, a, b):
    za, zb = model(a), model(b)
    logits = za @ zb.T / TAU
    tgt = mx.arange(za.shape[0])
    nce = 0.5 * (nn.losses.cross_entropy(logits, tgt, reduction="mean")
                 + nn.losses.cross_entropy(logits.T, tgt, reduction="mean"))
    align = mx.mean(mx.sum((za - zb) ** 2, axis=1))
    d2 = mx.sum((za[:, None, :] - za[None, :, :]) ** 2, axis=-1)
    uniform = mx.log(mx.mean(mx.exp(-2.0 * d2)))
    return nce, (align, uniform)


def objective(model, a, b):
    nce, extra = losses(model, a, b)
    return nce, extra


model = Encoder()
CYCLE, CYCLES, WARM = 300, 3, 30
peak = 3e-3


def lr_at(step):
    # linear warm-up from exactly 0, then cosine with warm restarts (SGDR)
    if step < WARM:
        return peak * step / WARM
    s = (step - WARM) % CYCLE
    return 0.5 * peak * (1 + math.cos(math.pi * s / CYCLE))


opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
vg = nn.value_and_grad(model, objective)

# one-off gradient coverage check before training
_a = mx.random.randint(0, N_LETTERS, (32,))
(_, _), g0 = vg(model, impress(_a), impress(_a))
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0]
print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(g0)), "zero_grad": dead}))


def knn_accuracy():
    # gallery: one clean impression per letter; query: 260 worn ones
    gal = model(protos.reshape(N_LETTERS, -1))
    q_ids = mx.array([i % N_LETTERS for i in range(104)])
    hits = 0.0
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            q = model(impress(q_ids, flip=0.1, dx=dx, dy=dy))
            pred = mx.argmax(q @ gal.T, axis=1)
            hits += mx.mean((pred == q_ids).astype(mx.float32)).item()
    return hits / 9


total = WARM + CYCLE * CYCLES
acc0 = knn_accuracy()
for step in range(total):
    opt.learning_rate = lr_at(step)
    ids = mx.array(random.sample(range(N_LETTERS), 24))
    a, b = impress(ids), impress(ids)
    (nce, (align, unif)), grads = vg(model, a, b)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, nce, align, unif)
    cyc = 0 if step < WARM else (step - WARM) // CYCLE + 1
    if step % 60 == 29:
        rec = {"cycle": cyc, "it": (step - WARM) % CYCLE if cyc else step,
               "lr": round(float(opt.learning_rate.item()), 6),
               "nce": round(nce.item(), 4), "align": round(align.item(), 4),
               "unif": round(unif.item(), 4)}
        if step >= WARM and (step - WARM) % CYCLE == CYCLE - 1:
            rec["knn_top1"] = round(knn_accuracy(), 3)
            rec["chance"] = round(1 / N_LETTERS, 3)
        print(json.dumps(rec))
print(json.dumps({"event": "done", "knn_top1_before": round(acc0, 3), "knn_top1_after": round(knn_accuracy(), 3),
                  "nce_floor": round(math.log(1), 3), "nce_chance": round(math.log(24), 3)}))
