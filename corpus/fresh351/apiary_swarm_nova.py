"""Apiary co-op: hive-state classifier trained across member apiaries without
pooling their logs.  Each round a handful of apiaries run local SGD for as many
steps as their battery budget allows; their normalised updates (FedNova) are
uploaded under pairwise additive masks so the coordinator only ever sees the
sum; the coordinator applies the summed pseudo-gradient with Adam (FedAdam),
its learning rate ramped up from 0."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

STATES = ["queenright", "queenless", "pre-swarm"]
N_SITES, PER_ROUND, ROUNDS = 8, 5, 40
BATCH, CLIENT_LR = 32, 0.05
MASK_SCALE = 10.0

rng = np.random.default_rng(351)
mx.random.seed(351)

# ---- synthetic sensor logs -------------------------------------------------
# features: weight change, brood temp, temp spread, humidity, 4 acoustic bands,
# entrance traffic, forager return ratio
CENTRES = np.array([
    [0.6, 34.8, 0.4, 55, 0.2, 0.5, 0.3, 0.1, 1.0, 0.9],
    [-0.2, 33.1, 1.6, 60, 0.6, 0.3, 0.2, 0.5, 0.7, 0.8],
    [0.9, 35.2, 0.8, 57, 0.3, 0.4, 0.9, 0.3, 1.5, 0.7],
], dtype=np.float32)
SPREAD = np.array([0.5, 0.9, 0.5, 6, 0.25, 0.2, 0.3, 0.25, 0.45, 0.15], dtype=np.float32)


def make_site(n, class_probs, shift):
    y = rng.choice(3, size=n, p=class_probs)
    x = CENTRES[y] + shift + SPREAD * rng.normal(size=(n, 10)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int32)


site_x, site_y = [], []
sizes = rng.integers(150, 900, size=N_SITES)
for s in range(N_SITES):
    probs = rng.dirichlet([0.6, 0.6, 0.6])
    shift = (0.35 * SPREAD * rng.normal(size=10)).astype(np.float32)
    x, y = make_site(int(sizes[s]), probs, shift)
    site_x.append(x)
    site_y.append(y)
test_x, test_y = make_site(3000, np.array([0.45, 0.3, 0.25]), 0.0)

allx = np.concatenate(site_x)
mu, sd = allx.mean(0), allx.std(0) + 1e-6   # co-op wide published scaler
site_x = [mx.array((x - mu) / sd) for x in site_x]
site_y = [mx.array(y) for y in site_y]
test_x, test_y = mx.array((test_x - mu) / sd), mx.array(test_y)

# straggler budget: local steps an apiary's gateway can afford per round
budget = rng.integers(3, 25, size=N_SITES)


class HiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 3)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model):
    logits = model(test_x)
    loss = nn.losses.cross_entropy(logits, test_y, reduction="mean")
    acc = (mx.argmax(logits, axis=1) == test_y).astype(mx.float32).mean()
    return loss.item(), 100.0 * acc.item()


global_model = HiveNet()
mx.eval(global_model.parameters())
local_model = HiveNet()

warm = optim.linear_schedule(0.0, 0.01, 6)
decay = optim.cosine_decay(0.01, ROUNDS - 6, end=1e-3)
server_opt = optim.Adam(learning_rate=optim.join_schedules([warm, decay], [6]))
server_opt.init(global_model.trainable_parameters())

grad_fn = nn.value_and_grad(local_model, ce)


def local_train(site, tau, key):
    local_model.update(tree_map(lambda a: mx.array(a), global_model.parameters()))
    opt = optim.SGD(learning_rate=CLIENT_LR)
    n = site_x[site].shape[0]
    first = last = None
    keys = mx.random.split(key, tau)
    for t in range(tau):
        idx = mx.random.randint(0, n, (BATCH,), key=keys[t])
        loss, g = grad_fn(local_model, site_x[site][idx], site_y[site][idx])
        opt.update(local_model, g)
        mx.eval(local_model.parameters(), opt.state, loss)
        if first is None:
            first = loss.item()
        last = loss.item()
    delta = tree_map(lambda gp, lp: gp - lp,
                     global_model.trainable_parameters(),
                     local_model.trainable_parameters())
    return delta, first, last


def pair_mask(i, j, rnd, like):
    """mask shared by apiaries i<j for this round (both derive it from a common seed)"""
    key = mx.random.key(100_000 * rnd + 100 * i + j)
    leaves = tree_flatten(like)
    keys = mx.random.split(key, len(leaves))
    return [MASK_SCALE * mx.random.normal(v.shape, key=keys[k]) for k, (_, v) in enumerate(leaves)]


def tree_norm(leaves):
    return float(np.sqrt(sum(mx.sum(v * v).item() for v in leaves)))


chance = 100.0 / 3
majority = 100.0 * float(np.mean(np.array(test_y) == np.bincount(np.array(test_y)).argmax()))
l0, a0 = evaluate(global_model)
print(f"# apiaries={N_SITES} sizes={sizes.tolist()} step_budget={budget.tolist()}")
print(f"# test: chance acc {chance:.1f}%, majority-state acc {majority:.1f}%, untrained ce {l0:.4f} acc {a0:.1f}%")
print("round,apiaries,tau_eff,server_lr,client_ce_first,client_ce_last,"
      "max_upload_norm,sum_norm,mask_residual,test_ce,test_acc_pct,secs")

t0 = time.time()
names = [k for k, _ in tree_flatten(global_model.trainable_parameters())]
for rnd in range(ROUNDS):
    chosen = sorted(rng.choice(N_SITES, size=PER_ROUND, replace=False).tolist())
    n_tot = float(sum(int(sizes[c]) for c in chosen))
    p = {c: int(sizes[c]) / n_tot for c in chosen}
    tau_eff = sum(p[c] * int(budget[c]) for c in chosen)

    uploads, plain, firsts, lasts = [], [], [], []
    for c in chosen:
        tau = int(budget[c])
        delta, f, l = local_train(c, tau, mx.random.key(7919 * rnd + c))
        firsts.append(f)
        lasts.append(l)
        contrib = [p[c] * v / tau for _, v in tree_flatten(delta)]
        plain.append(contrib)
        masked = list(contrib)
        for other in chosen:
            if other == c:
                continue
            i, j = min(c, other), max(c, other)
            m = pair_mask(i, j, rnd, delta)
            sign = 1.0 if c == i else -1.0
            masked = [a + sign * b for a, b in zip(masked, m)]
        mx.eval(masked)
        uploads.append(masked)

    # coordinator: sums the masked uploads, never sees a single apiary's update
    summed = [sum(u[k] for u in uploads) for k in range(len(names))]
    reference = [sum(u[k] for u in plain) for k in range(len(names))]
    residual = max(mx.max(mx.abs(a - b)).item() for a, b in zip(summed, reference))
    pseudo = [tau_eff * s for s in summed]

    pseudo_tree = tree_unflatten(list(zip(names, pseudo)))
    server_opt.update(global_model, pseudo_tree)
    mx.eval(global_model.parameters(), server_opt.state)
    lr_now = server_opt.learning_rate.item()

    tl, ta = evaluate(global_model)
    up_norm = max(tree_norm(u) for u in uploads)
    print(f"{rnd},{'|'.join(map(str, chosen))},{tau_eff:.2f},{lr_now:.5f},"
          f"{np.mean(firsts):.4f},{np.mean(lasts):.4f},{up_norm:.1f},{tree_norm(pseudo):.4f},"
          f"{residual:.2e},{tl:.4f},{ta:.1f},{time.time() - t0:.1f}")

fl, fa = evaluate(global_model)
print(f"# final global model: test ce {fl:.4f}, acc {fa:.1f}% "
      f"(chance {chance:.1f}%, majority {majority:.1f}%)")
