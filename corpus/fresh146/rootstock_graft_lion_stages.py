# Nursery grafting trials: learn the first-season shoot growth (cm, relative to the nursery
# average) of a scion grafted onto a rootstock, from the two identities alone.
# Stage "pome" uses apple/pear scions on pome rootstocks only; stage "pome+stone" adds
# cherry/plum/apricot scions and stone-fruit rootstocks, whose (in)compatibility effects are
# much larger, so the error jumps up before it falls again.
import random
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)

pome_scions = [f"apple_{i}" for i in range(16)] + [f"pear_{i}" for i in range(10)]
stone_scions = [f"cherry_{i}" for i in range(12)] + [f"plum_{i}" for i in range(10)] + [f"apricot_{i}" for i in range(4)]
pome_roots = [f"M{i}" for i in range(9)] + [f"quince_{i}" for i in range(4)] + [f"OHF_{i}" for i in range(4)]
stone_roots = [f"Gisela_{i}" for i in range(6)] + [f"Myrobalan_{i}" for i in range(4)]
scions = pome_scions + stone_scions
roots = pome_roots + stone_roots
sid = {s: i for i, s in enumerate(scions)}
rid = {r: i for i, r in enumerate(roots)}

# hidden horticulture: scion vigour, rootstock vigour, family, a cambium-match latent
trait = {}
for s in scions:
    trait[s] = (random.uniform(20, 80), 0 if s in pome_scions else 1, random.uniform(-1, 1))
for r in roots:
    trait[r] = (random.uniform(20, 80), 0 if r in pome_roots else 1, random.uniform(-1, 1))


def growth(s, r):
    vs, fs, cs = trait[s]
    vr, fr, cr = trait[r]
    g = 0.35 * (vs + vr - 100.0) - 12.0 * (cs - cr) ** 2
    if fs != fr:                      # cross-family graft: poor union
        g -= 90.0 * (0.6 + 0.4 * abs(cs))
    if s.startswith("pear") and r.startswith("M"):
        g -= 55.0                     # pear on apple stock
    return g + random.gauss(0.0, 3.0)


def make_trials(pool_s, pool_r, n):
    s = [random.choice(pool_s) for _ in range(n)]
    r = [random.choice(pool_r) for _ in range(n)]
    y = [growth(a, b) for a, b in zip(s, r)]
    return (mx.array([sid[a] for a in s], dtype=mx.int32), mx.array([rid[b] for b in r], dtype=mx.int32),
            mx.array(y, dtype=mx.float32))


stages = [
    ("pome", make_trials(pome_scions, pome_roots, 3000), make_trials(pome_scions, pome_roots, 600), 160),
    ("pome+stone", make_trials(scions, roots, 5000), make_trials(scions, roots, 800), 260),
]


class GraftNet(nn.Module):
    def __init__(self, n_scion, n_root, d=16):
        super().__init__()
        self.scion = nn.Embedding(n_scion, d)
        self.root = nn.Embedding(n_root, d)
        self.mlp = nn.Sequential(nn.Linear(2 * d, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, s, r):
        return self.mlp(mx.concatenate([self.scion(s), self.root(r)], axis=-1)).squeeze(-1) * 50.0


def huber(model, s, r, y):
    return nn.losses.huber_loss(model(s, r), y, delta=10.0, reduction="mean")


model = GraftNet(len(scions), len(roots))
mx.eval(model.parameters())

print(f"{'stage':<11}{'step':>5}{'lr':>10}{'train_huber':>13}{'val_MAE_cm':>12}{'mean_pred_cm':>14}{'ratio':>8}")
print("-" * 73)
for name, (ts, tr, ty), (vs, vr, vy), steps in stages:
    # each stage starts a fresh Lion whose lr ramps up from exactly 0
    opt = optim.Lion(learning_rate=optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, steps - 40, 1e-4)], [40]),
        weight_decay=0.0)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(s, r, y):
        loss, grads = nn.value_and_grad(model, huber)(model, s, r, y)
        opt.update(model, grads)
        return loss

    base = mx.abs(vy - ty.mean()).mean().item()  # always predict the stage's mean growth
    n = ty.size
    for k in range(steps):
        idx = mx.random.randint(0, n, (128,))
        loss = train_step(ts[idx], tr[idx], ty[idx])
        mx.eval(state, loss)
        if k % 20 == 0 or k == steps - 1:
            mae = mx.abs(model(vs, vr) - vy).mean().item()
            lr = opt.learning_rate.item()
            print(f"{name:<11}{k:>5}{lr:>10.2e}{loss.item():>13.3f}{mae:>12.2f}{base:>14.2f}{100 * mae / base:>7.1f}%")
    print("-" * 73)

random.seed(99)
for s, r in [("apple_3", "M2"), ("pear_1", "quince_0"), ("pear_1", "M4"), ("cherry_2", "Gisela_1"),
             ("plum_0", "M7"), ("apricot_1", "Myrobalan_2")]:
    pr = model(mx.array([sid[s]]), mx.array([rid[r]])).item()
    print(f"  {s:>10} on {r:<12} model {pr:7.1f} cm   trial law {growth(s, r):7.1f} cm")
