# Furnace glass quality: classify a melt batch as clear / seeded (bubbles) / stoned
# from 9 synthetic furnace readings. LayerNorm MLP, SGD+momentum with cosine warm
# restarts (SGDR), repeated over 3 seeds; a fixed-width table every 5 epochs.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

def furnace(n, g):
    crown_t = g.normal(1550, 25, n)        # crown temperature C
    pull = g.uniform(80, 220, n)           # tonnes/day
    cullet = g.uniform(0.1, 0.6, n)        # cullet fraction
    sulfate = g.uniform(0.1, 0.5, n)       # refining agent %
    bubbler = g.uniform(0, 1, n)
    batch_h2o = g.uniform(0, 4, n)
    zr_wear = g.uniform(0, 1, n)           # refractory wear index
    charge_var = g.uniform(0, 1, n)
    redox = g.normal(0, 1, n)
    seed_score = (1550 - crown_t) / 20 + (pull - 150) / 40 - 3 * sulfate + 1.2 * redox ** 2 - bubbler
    stone_score = 2.5 * zr_wear + 1.5 * charge_var * cullet * 3 - 2.5
    logits = np.stack([np.zeros(n), seed_score - 1.0, stone_score], 1) + g.gumbel(0, 0.4, (n, 3))
    X = np.stack([crown_t, pull, cullet, sulfate, bubbler, batch_h2o, zr_wear, charge_var, redox], 1)
    return X.astype(np.float32), logits.argmax(1).astype(np.int32)

g = np.random.default_rng(11)
Xtr, ytr = furnace(3000, g)
Xte, yte = furnace(1000, g)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_m, Xte_m = mx.array((Xtr - mu) / sd), mx.array((Xte - mu) / sd)
ytr_m, yte_m = mx.array(ytr), mx.array(yte)
majority = np.bincount(ytr).argmax()
print(f"classes train {np.bincount(ytr).tolist()}  majority-class test acc {100*np.mean(yte==majority):.1f}%")

class MeltNet(nn.Module):
    def __init__(s):
        super().__init__()
        s.inp = nn.Linear(9, 48)
        s.ln1 = nn.LayerNorm(48)
        s.hid = nn.Linear(48, 48)
        s.ln2 = nn.LayerNorm(48)
        s.head = nn.Linear(48, 3)
    def __call__(s, x):
        h = nn.silu(s.ln1(s.inp(x)))
        h = h + nn.silu(s.ln2(s.hid(h)))
        return s.head(h)

def xent(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

CYCLE, EPOCHS, BS, LR_MAX = 8, 24, 64, 0.08
print(f"{'seed':>4} {'ep':>3} {'lr':>8} {'xent':>7} {'test_acc%':>9} {'err%':>6} {'|dW|':>8}")
for seed in (0, 1, 2):
    mx.random.seed(seed)
    rs = np.random.default_rng(100 + seed)
    net = MeltNet()
    opt = optim.SGD(learning_rate=LR_MAX, momentum=0.9, weight_decay=1e-4)
    step = nn.value_and_grad(net, xent)
    w0 = [v for _, v in tree_flatten(net.parameters())]
    t0 = time.time()
    for ep in range(EPOCHS):
        t_cur = ep % CYCLE
        opt.learning_rate = 0.5 * LR_MAX * (1 + math.cos(math.pi * t_cur / CYCLE))
        order = rs.permutation(len(ytr))
        run = 0.0
        for b in range(0, len(order), BS):
            ix = mx.array(order[b:b + BS])
            loss, gr = step(net, Xtr_m[ix], ytr_m[ix])
            opt.update(net, gr)
            mx.eval(net.parameters(), opt.state, loss)
            run += loss.item() * len(order[b:b + BS])
        if ep % 4 == 3 or ep == 0:
            acc = (net(Xte_m).argmax(-1) == yte_m).mean().item() * 100
            dw = math.sqrt(sum(((a - b) ** 2).sum().item() for a, b in zip([v for _, v in tree_flatten(net.parameters())], w0)))
            print(f"{seed:>4} {ep:>3} {opt.learning_rate.item():>8.5f} {run/len(order):>7.4f} {acc:>9.2f} {100-acc:>6.2f} {dw:>8.3f}")
    print(f"---- seed {seed} done in {time.time()-t0:.1f}s")
