"""Six studio kilns learn a raku glaze-outcome classifier by decentralised gossip.

Each kiln keeps its own model copy on its own (label-skewed) firing log and runs Adam
with a warmup that starts at exactly lr = 0 and a cosine tail. Every 5 local steps the
kilns average weights with their two ring neighbours (no central server). Logged: mean
log-likelihood (negative by construction), consensus distance, and valid accuracy
next to the Bayes accuracy of the simulator and a majority-class baseline. At the end
the six copies are compared with a uniform weight soup and a logit ensemble.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(3)
mx.random.seed(3)

CLASSES = ["crackle", "matte", "gloss"]
D = 8


def simulate(n):
    peak = rng.normal(0, 1, n)          # peak temperature (std units)
    reduction = rng.normal(0, 1, n)     # seconds in the reduction can
    cooling = rng.normal(0, 1, n)       # cooling rate
    thickness = rng.normal(0, 1, n)     # glaze thickness
    humidity = rng.normal(0, 1, n)
    combust = rng.normal(0, 1, n)       # sawdust vs newspaper load
    soak = rng.normal(0, 1, n)
    clay = rng.normal(0, 1, n)          # clay body grog share
    X = np.stack([peak, reduction, cooling, thickness, humidity, combust, soak, clay], 1)
    logits = np.stack([
        1.3 * cooling + 0.8 * thickness - 0.4 * peak * cooling,
        1.1 * reduction + 0.6 * combust - 0.7 * np.abs(peak),
        1.4 * peak + 0.5 * soak - 0.5 * thickness ** 2 + 0.3,
    ], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=pi) for pi in p])
    return X.astype(np.float32), y.astype(np.int32), p


Xtr, ytr, _ = simulate(9000)
Xva, yva, pva = simulate(3000)
bayes_acc = float(np.mean(pva.argmax(1) == yva))
majority_acc = float(np.mean(yva == np.bincount(ytr).argmax()))

# label-skewed shards: kiln k over-samples class k % 3
N_KILNS = 6
shards = []
for k in range(N_KILNS):
    w = np.where(ytr == k % 3, 3.0, 1.0)
    idx = rng.choice(len(ytr), size=1200, replace=False, p=w / w.sum())
    shards.append((mx.array(Xtr[idx]), mx.array(ytr[idx])))
Xva_m, yva_m = mx.array(Xva), mx.array(yva)


class GlazeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = [nn.Linear(D, 48), nn.Linear(48, 48)]
        self.head = nn.Linear(48, 3)

    def __call__(self, x):
        for layer in self.hidden:
            x = nn.gelu(layer(x))
        return self.head(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


EPOCHS = 30
BS = 48
STEPS_PER_EPOCH = 1200 // BS
TOTAL = EPOCHS * STEPS_PER_EPOCH
WARM = 2 * STEPS_PER_EPOCH
GOSSIP_EVERY = 5

warm = optim.linear_schedule(0.0, 3e-3, WARM)
cos = optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)
schedule = optim.join_schedules([warm, cos], [WARM])

kilns = []
base = GlazeNet()
mx.eval(base.parameters())
for k in range(N_KILNS):
    m = GlazeNet()
    m.update(base.parameters())  # common starting point
    kilns.append((m, optim.Adam(learning_rate=schedule), nn.value_and_grad(m, loss_fn)))


def consensus_distance():
    flats = [[v for _, v in tree_flatten(m.parameters())] for m, _, _ in kilns]
    mean = [sum(vs) / N_KILNS for vs in zip(*flats)]
    d = sum(sum(mx.sum((v - mu) ** 2) for v, mu in zip(f, mean)) for f in flats) / N_KILNS
    return float(d.item())


def gossip():
    params = [m.parameters() for m, _, _ in kilns]
    mixed = []
    for k in range(N_KILNS):
        left, right = params[(k - 1) % N_KILNS], params[(k + 1) % N_KILNS]
        mixed.append(tree_map(lambda a, b, c: 0.5 * a + 0.25 * b + 0.25 * c,
                              params[k], left, right))
    for (m, _, _), p in zip(kilns, mixed):
        m.update(p)
    mx.eval([m.parameters() for m, _, _ in kilns])


def accuracy(model):
    return float(mx.mean(mx.argmax(model(Xva_m), 1) == yva_m).item())


def mean_loglik(model):
    return -float(loss_fn(model, Xva_m, yva_m).item())


t0 = time.time()
print(f"kilns {N_KILNS} x 1200 firings | valid {len(yva)} | Bayes acc {bayes_acc:.3f} | "
      f"majority acc {majority_acc:.3f}")
step = 0
for epoch in range(EPOCHS):
    perms = [np.random.default_rng(epoch * 31 + k).permutation(1200) for k in range(N_KILNS)]
    pre_gossip = []
    for b in range(STEPS_PER_EPOCH):
        for k, (m, opt, vg) in enumerate(kilns):
            idx = mx.array(perms[k][b * BS:(b + 1) * BS])
            X, y = shards[k]
            loss, g = vg(m, X[idx], y[idx])
            opt.update(m, g)
        mx.eval([(m.parameters(), o.state) for m, o, _ in kilns])
        step += 1
        if step % GOSSIP_EVERY == 0:
            pre_gossip.append(consensus_distance())
            gossip()
    # quiet middle stretch: only every 5th epoch is logged between 4 and 25
    if epoch < 4 or epoch >= 25 or epoch % 5 == 0:
        accs = [accuracy(m) for m, _, _ in kilns]
        lls = [mean_loglik(m) for m, _, _ in kilns]
        print(f"epoch {epoch:2d} | lr {float(schedule(step)):.2e} | mean loglik {np.mean(lls):+.4f} | "
              f"valid acc {np.mean(accs):.3f} (min {min(accs):.3f}) | "
              f"consensus pre-gossip {np.mean(pre_gossip):.2e} post {consensus_distance():.2e}")

soup = GlazeNet()
flats = [m.parameters() for m, _, _ in kilns]
soup.update(tree_map(lambda *xs: sum(xs) / len(xs), *flats))
mx.eval(soup.parameters())
ens_logits = sum(mx.softmax(m(Xva_m), axis=-1) for m, _, _ in kilns) / N_KILNS
ens_acc = float(mx.mean(mx.argmax(ens_logits, 1) == yva_m).item())
ens_ll = float(mx.mean(mx.log(ens_logits[mx.arange(len(yva)), yva_m] + 1e-9)).item())
accs = [accuracy(m) for m, _, _ in kilns]
print("---- final (valid) ----")
print(f"majority class       acc {majority_acc:.3f}")
print(f"single kilns         acc {min(accs):.3f} .. {max(accs):.3f}")
print(f"uniform weight soup  acc {accuracy(soup):.3f} | loglik {mean_loglik(soup):+.4f}")
print(f"probability ensemble acc {ens_acc:.3f} | loglik {ens_ll:+.4f}")
print(f"Bayes (simulator)    acc {bayes_acc:.3f}")
print(f"done in {time.time() - t0:.1f}s")
