"""Regional bus app: will a rider tap a suggested connecting service? (5 suggestions per screen)"""
import json
import os
import tempfile
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(21)
CARD = [40, 24, 12, 3]            # stop, hour, route, rider type
N_SCREENS_TR, N_SCREENS_TE, SLOTS = 6000, 1600, 5
E, NUM = 6, 3
tab = [rng.normal(size=c) * 0.6 for c in CARD]
stop_hour = rng.normal(size=(40, 24)) * 0.9
route_rider = rng.normal(size=(12, 3)) * 1.0


def make(n_screens):
    n = n_screens * SLOTS
    cats = np.stack([rng.integers(0, c, n) for c in CARD], 1)
    cats[:, 0] = np.repeat(rng.integers(0, 40, n_screens), SLOTS)   # one stop, one hour per screen
    cats[:, 1] = np.repeat(rng.integers(0, 24, n_screens), SLOTS)
    cats[:, 3] = np.repeat(rng.integers(0, 3, n_screens), SLOTS)
    num = rng.normal(size=(n, NUM))     # wait minutes, walk metres, fare delta (standardised)
    logit = (-2.2 + sum(t[cats[:, j]] for j, t in enumerate(tab)) + stop_hour[cats[:, 0], cats[:, 1]]
             + route_rider[cats[:, 2], cats[:, 3]] - 0.9 * num[:, 0] - 0.5 * num[:, 1] * (cats[:, 3] == 2)
             - 0.25 * (np.arange(n) % SLOTS))
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < p).astype(np.float32)
    return cats.astype(np.int32), num.astype(np.float32), y, p


ctr, ntr, ytr, _ = make(N_SCREENS_TR)
cte, nte, yte, pte = make(N_SCREENS_TE)


class CrossNet(nn.Module):
    """DCN-v2: x_{l+1} = x0 * (W x_l + b) + x_l, in parallel with a deep MLP."""

    def __init__(self, n_cross=2):
        super().__init__()
        self.emb = [nn.Embedding(c, E) for c in CARD]
        d0 = E * len(CARD) + NUM
        self.cross = [nn.Linear(d0, d0) for _ in range(n_cross)]
        self.deep = nn.Sequential(nn.Linear(d0, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.head = nn.Linear(d0 + 32, 1)

    def __call__(self, cats, num):
        x0 = mx.concatenate([e(cats[:, j]) for j, e in enumerate(self.emb)] + [num], axis=1)
        x = x0
        for layer in self.cross:
            x = x0 * layer(x) + x
        return self.head(mx.concatenate([x, self.deep(x0)], axis=1)).squeeze(-1)


def bce(model, c, n, y):
    return nn.losses.binary_cross_entropy(model(c, n), y, with_logits=True, reduction="mean")


def auc(score, y):
    r = np.argsort(np.argsort(score)) + 1
    npos = y.sum(); nneg = len(y) - npos
    return (r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)


def screen_ndcg(score, y):
    s, t = score.reshape(-1, SLOTS), y.reshape(-1, SLOTS)
    keep = t.sum(1) > 0
    disc = 1 / np.log2(np.arange(SLOTS) + 2)
    g = np.take_along_axis(t, np.argsort(-s, 1), 1)
    ideal = (np.sort(t, 1)[:, ::-1] * disc).sum(1)
    return float(((g * disc).sum(1) / np.maximum(ideal, 1e-9))[keep].mean())


BS, EPOCHS, SPLIT = 500, 8, 4
steps_per_epoch = len(ytr) // BS
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 100),
                              optim.cosine_decay(3e-3, EPOCHS * steps_per_epoch - 100, 1e-4)], [100])
C_tr, N_tr, Y_tr = mx.array(ctr), mx.array(ntr), mx.array(ytr)
C_te, N_te = mx.array(cte), mx.array(nte)


def build(seed, restore_from=None):
    mx.random.seed(seed)
    m = CrossNet()
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    o.init(m.trainable_parameters())
    if restore_from is not None:
        m.load_weights(os.path.join(restore_from, "w.safetensors"))
        o.state = tree_unflatten(list(mx.load(os.path.join(restore_from, "opt.safetensors")).items()))
    vg = nn.value_and_grad(m, bce)

    @partial(mx.compile, inputs=[m.state, o.state], outputs=[m.state, o.state])
    def step(c, n, y):
        loss, g = vg(m, c, n, y)
        o.update(m, g)
        return loss

    return m, o, step


def report(tag, ep, m, o, avg):
    z = np.array(m(C_te, N_te))
    p = 1 / (1 + np.exp(-z))
    ll = float(np.mean(yte * np.log(p + 1e-9) + (1 - yte) * np.log(1 - p + 1e-9)))
    print(f"[{tag}] epoch {ep} | step {int(o.step.item()):5d} | lr {float(o.learning_rate.item()):.2e} | "
          f"train_bce {avg} | test loglik/imp {ll:+.4f} | auc {auc(z, yte):.4f} | "
          f"screen_ndcg {screen_ndcg(z, yte):.3f} | pred_ctr {100 * p.mean():.2f}% vs {100 * yte.mean():.2f}%")


base_ll = float(np.mean(yte * np.log(ytr.mean()) + (1 - yte) * np.log(1 - ytr.mean())))
true_ll = float(np.mean(yte * np.log(pte) + (1 - yte) * np.log(1 - pte)))
print(f"impressions train={len(ytr)} test={len(yte)} tap_rate={100 * ytr.mean():.2f}%")
print(f"reference loglik/imp: base_rate={base_ll:+.4f} generating_law={true_ll:+.4f} "
      f"| screen_ndcg generating_law={screen_ndcg(np.log(pte / (1 - pte)), yte):.3f}")

ckpt = tempfile.mkdtemp()
model, opt, step = build(seed=1)
report("session1", 0, model, opt, "   -  ")
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    if ep == SPLIT + 1:
        model.save_weights(os.path.join(ckpt, "w.safetensors"))
        mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(ckpt, "meta.json"), "w") as f:
            json.dump({"epoch": ep - 1}, f)
        del model, opt, step
        model, opt, step = build(seed=99, restore_from=ckpt)
        print(f"-- resumed from {ckpt} at epoch {json.load(open(os.path.join(ckpt, 'meta.json')))['epoch']} "
              f"(fresh objects, step {int(opt.step.item())})")
        report("session2", ep - 1, model, opt, "   -  ")
    perm = mx.array(np.random.default_rng(100 + ep).permutation(len(ytr)))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss = step(C_tr[idx], N_tr[idx], Y_tr[idx])
        mx.eval(loss, model.state, opt.state)
        tot += loss.item()
    report("session1" if ep <= SPLIT else "session2", ep, model, opt, f"{tot / steps_per_epoch:.4f}")
print(f"finished in {time.time() - t0:.1f}s")
