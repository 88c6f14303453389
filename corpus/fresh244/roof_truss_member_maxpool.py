"""Timber roof-truss survey: does a truss need strengthening?

Each synthetic truss is a small graph (joints = nodes, timber members = edges).
A truss is flagged when ANY member is over its capacity, so the readout has to
look at the worst member (edge max-pool), not the average one.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)


def make_truss():
    n = int(rng.integers(5, 13))
    edges = [(int(rng.integers(0, i)), i) for i in range(1, n)]        # spanning tree
    for _ in range(int(rng.integers(1, n // 2 + 1))):                  # web members
        a, b = rng.choice(n, 2, replace=False)
        if (min(a, b), max(a, b)) not in {(min(u, v), max(u, v)) for u, v in edges}:
            edges.append((int(a), int(b)))
    load = rng.gamma(2.0, 1.0, n)                  # kN hung at each joint
    grade = rng.choice([0.8, 1.0, 1.3], n)         # timber strength class at the joint
    moist = rng.uniform(0.08, 0.25, n)             # moisture content
    span = rng.uniform(0.6, 2.4, len(edges))       # member length (m)
    feats = np.stack([load, grade, moist, np.full(n, n / 12.0)], axis=1)
    stress = np.array([(load[u] + load[v]) * span[k] * (1 + 3 * (moist[u] + moist[v]))
                       / (grade[u] + grade[v]) for k, (u, v) in enumerate(edges)])
    worst = stress.max() * np.exp(rng.normal(0, 0.05))        # inspector's reading scatter
    return feats.astype(np.float32), np.array(edges, dtype=np.int32), span.astype(np.float32), worst, load.max()


raw = [make_truss() for _ in range(4000)]
CAPACITY = float(np.quantile([r[3] for r in raw], 0.65))     # about a third of trusses exceed it
data = [(f, e, sp, float(w > CAPACITY), lm) for f, e, sp, w, lm in raw]
train, valid = data[:3200], data[3200:]
allf = np.concatenate([d[0] for d in train])
f_mu, f_sd = allf.mean(0), allf.std(0)


def pack(items):
    xs, ss, ds, ls, eg, ys = [], [], [], [], [], []
    off = 0
    for g, (f, e, span, y, _) in enumerate(items):
        xs.append((f - f_mu) / f_sd)
        ss.append(e[:, 0] + off)
        ds.append(e[:, 1] + off)
        ls.append(span)
        eg.append(np.full(len(e), g, np.int32))
        ys.append(y)
        off += len(f)
    return (mx.array(np.concatenate(xs)), mx.array(np.concatenate(ss)), mx.array(np.concatenate(ds)),
            mx.array(np.concatenate(ls))[:, None], mx.array(np.concatenate(eg)), mx.array(np.array(ys, np.float32)))


class TrussNet(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.embed = nn.Linear(4, d)
        self.msg = [nn.Linear(2 * d + 1, d), nn.Linear(2 * d + 1, d)]
        self.upd = [nn.Linear(2 * d, d), nn.Linear(2 * d, d)]
        self.member = nn.Sequential(nn.Linear(2 * d + 1, d), nn.SiLU(), nn.Linear(d, d))
        self.head = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, 1))

    def __call__(self, x, src, dst, span, egraph, n_graphs):
        h = nn.silu(self.embed(x))
        for msg, upd in zip(self.msg, self.upd):
            m_fwd = nn.silu(msg(mx.concatenate([h[src], h[dst], span], axis=1)))
            m_bwd = nn.silu(msg(mx.concatenate([h[dst], h[src], span], axis=1)))
            agg = mx.zeros(h.shape).at[dst].add(m_fwd).at[src].add(m_bwd)
            h = h + nn.silu(upd(mx.concatenate([h, agg], axis=1)))
        e = self.member(mx.concatenate([h[src] + h[dst], mx.abs(h[src] - h[dst]), span], axis=1))
        worst = mx.full((n_graphs, e.shape[1]), -1e9).at[egraph].maximum(e)
        return self.head(worst).squeeze(-1)


def loss_fn(model, batch, n_graphs, pos_w):
    x, s, d, sp, eg, y = batch
    logit = model(x, s, d, sp, eg, n_graphs)
    bce = nn.losses.binary_cross_entropy(logit, y, with_logits=True, reduction="none")
    w = mx.where(y > 0.5, pos_w, 1.0)
    return (w * bce).sum() / w.sum()


fail_rate = float(np.mean([d[3] for d in train]))
pos_w = (1 - fail_rate) / fail_rate
VB = pack(valid)
v_y = np.array([d[3] for d in valid])
# rule-of-thumb baseline used on site: flag if the heaviest joint load exceeds a cut tuned on train
tr_max = np.array([d[4] for d in train]); tr_y = np.array([d[3] for d in train])
cuts = np.quantile(tr_max, np.linspace(0.05, 0.95, 91))
best_cut = cuts[np.argmax([((tr_max > c) == tr_y).mean() for c in cuts])]
rule_acc = float(((np.array([d[4] for d in valid]) > best_cut) == v_y).mean())


def evaluate(model):
    model.eval()
    logit = model(*VB[:5], len(valid))
    p = mx.sigmoid(logit)
    pred = np.array(p > 0.5)
    bce = nn.losses.binary_cross_entropy(logit, VB[5], with_logits=True).item()
    acc = float((pred == v_y).mean())
    recall = float(pred[v_y == 1].mean())
    model.train()
    return bce, acc, recall


model = TrussNet()
mx.eval(model.parameters())
EPOCHS, MICRO, ACCUM = 10, 50, 4          # 4 micro-batches of 50 trusses per update
steps_per_epoch = len(train) // (MICRO * ACCUM)
micro = [pack(train[i * MICRO:(i + 1) * MICRO]) for i in range(len(train) // MICRO)]   # packed once
total = EPOCHS * steps_per_epoch
warm = int(0.3 * total)
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                              optim.linear_schedule(3e-3, 3e-5, total - warm)], [warm])
opt = optim.Adam(learning_rate=sched)
grad_fn = nn.value_and_grad(model, loss_fn)

print(f"trusses: train {len(train)}, valid {len(valid)}; share needing strengthening {100 * fail_rate:.1f}%")
print(f"reference: always-'sound' valid acc {100 * (1 - v_y.mean()):.1f}%, heaviest-joint rule valid acc {100 * rule_acc:.1f}%")
bce0, acc0, rec0 = evaluate(model)
print(f"untrained: valid bce {bce0:.3f} acc {100 * acc0:.1f}% recall {100 * rec0:.1f}%")
print(f"schedule: {total} updates, lr rises from 0 over {warm} then falls; {ACCUM} micro-batches per update")
sys.stdout.write("warming up ")
sys.stdout.flush()

t0 = time.time()
step = 0
for ep in range(1, EPOCHS + 1):
    order = rng.permutation(len(micro))
    run = []
    for k in range(steps_per_epoch):
        acc_g = None
        acc_l = 0.0
        for m in range(ACCUM):
            loss, g = grad_fn(model, micro[order[k * ACCUM + m]], MICRO, pos_w)
            acc_g = g if acc_g is None else tree_map(lambda a, b: a + b, acc_g, g)
            acc_l += loss
        acc_g = tree_map(lambda a: a / ACCUM, acc_g)
        if step == 0:
            zero = [n for n, v in tree_flatten(acc_g) if float(mx.abs(v).sum().item()) == 0.0]
            sys.stdout.write(f"[grad leaves {len(tree_flatten(acc_g))}, zero {len(zero)}] ")
        opt.update(model, acc_g)
        mx.eval(model.parameters(), opt.state, acc_l)
        run.append(acc_l.item() / ACCUM)
        step += 1
    if ep <= 3:
        sys.stdout.write(".")
        sys.stdout.flush()
        if ep == 3:
            sys.stdout.write("\n")
        continue
    bce, acc, rec = evaluate(model)
    print(f"ep={ep:02d} step={step} lr={float(opt.learning_rate.item()):.2e} "
          f"train_wbce={np.mean(run):.3f} valid_bce={bce:.3f} valid_acc={100 * acc:.1f}% "
          f"recall_flagged={100 * rec:.1f}% t={time.time() - t0:.1f}s")

bce, acc, rec = evaluate(model)
print(f"done: valid acc {100 * acc:.1f}% (rule {100 * rule_acc:.1f}%, always-sound {100 * (1 - v_y.mean()):.1f}%)")
