"""Community tool-lending library: will a member borrow the tool shown to them?

DCN-v2 style model (field embeddings -> 2 cross layers + deep MLP) trained with
Lion.  Phase "joint" trains everything; phase "head" freezes the embedding
tables on purpose and refits only the cross/deep/out layers.  Each phase warms
the learning rate up from exactly 0, stops early on validation log-loss and
restores its best weights.  Every report is one JSON object per line.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2160)
mx.random.seed(2160)

M, T, C, S, P = 300, 60, 6, 4, 5        # members, tools, categories, seasons, project types
tool_cat = rng.integers(0, C, T)
m_taste = rng.normal(0, 1, (M, 4))
t_vec = rng.normal(0, 1, (T, 4))
m_proj = rng.integers(0, P, M)
proj_cat = rng.normal(0, 1.1, (P, C))    # project type x category affinity
seas_cat = rng.normal(0, 0.8, (S, C))    # e.g. hedge trimmers in spring
m_home = rng.uniform(0.2, 9.0, M)         # km from the shed
t_pop = rng.normal(0, 0.6, T)


def make(n):
    mem = rng.integers(0, M, n)
    tool = rng.integers(0, T, n)
    seas = rng.integers(0, S, n)
    wkend = rng.integers(0, 2, n)
    cat = tool_cat[tool]
    u = (0.7 * (m_taste[mem] * t_vec[tool]).sum(1) + proj_cat[m_proj[mem], cat]
         + seas_cat[seas, cat] + t_pop[tool] - 0.25 * m_home[mem] + 0.4 * wkend - 0.3)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-u))).astype(np.float32)
    cats = np.stack([mem, tool, cat, seas, m_proj[mem]], 1).astype(np.int32)
    nums = np.stack([m_home[mem] / 9.0, wkend], 1).astype(np.float32)
    return cats, nums, y


tr, va, te = make(11000), make(3000), make(3000)


class DCN(nn.Module):
    def __init__(self, sizes, dim=8, n_num=2, n_cross=2, hid=64):
        super().__init__()
        self.embeds = [nn.Embedding(s, dim) for s in sizes]
        d0 = dim * len(sizes) + n_num
        self.cross = [nn.Linear(d0, d0) for _ in range(n_cross)]
        self.deep = nn.Sequential(nn.Linear(d0, hid), nn.ReLU(), nn.Linear(hid, hid), nn.ReLU())
        self.out = nn.Linear(d0 + hid, 1)

    def __call__(self, cats, nums):
        x0 = mx.concatenate([e(cats[:, i]) for i, e in enumerate(self.embeds)] + [nums], -1)
        x = x0
        for layer in self.cross:
            x = x0 * layer(x) + x
        return self.out(mx.concatenate([x, self.deep(x0)], -1)).squeeze(-1)


def loss_fn(model, cats, nums, y):
    return nn.losses.binary_cross_entropy(model(cats, nums), y, reduction="mean")


def evaluate(model, split):
    cats, nums, y = split
    logits = model(mx.array(cats), mx.array(nums))
    ll = nn.losses.binary_cross_entropy(logits, mx.array(y), reduction="mean").item()
    s = np.array(logits)
    r = s.argsort().argsort() + 1
    npos = int(y.sum())
    auc = (r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * (len(y) - npos))
    return ll, float(auc)


# reference: per-tool base rate from the training split (no personalisation)
rate = np.array([(tr[2][tr[0][:, 1] == t].sum() + 1) / ((tr[0][:, 1] == t).sum() + 2) for t in range(T)])
pb = rate[va[0][:, 1]]
base_ll = float(-(va[2] * np.log(pb) + (1 - va[2]) * np.log(1 - pb)).mean())

model = DCN([M, T, C, S, P])
mx.eval(model.parameters())
BATCH = 256
print(json.dumps({"event": "setup", "rows": [len(tr[2]), len(va[2]), len(te[2])],
                  "borrow_rate": round(float(tr[2].mean()), 4), "val_logloss_tool_baserate": round(base_ll, 4),
                  "params": sum(v.size for _, v in tree_flatten(model.parameters()))}))


def run_phase(name, peak_lr, warm, max_epochs, patience):
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak_lr, warm),
                                  optim.cosine_decay(peak_lr, 3000, peak_lr * 0.1)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    best = (float("inf"), None, 0)
    bad = 0
    t0 = time.time()
    for epoch in range(1, max_epochs + 1):
        order = rng.permutation(len(tr[2]))
        tot, nb = 0.0, 0
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            loss, grads = step_fn(model, mx.array(tr[0][idx]), mx.array(tr[1][idx]), mx.array(tr[2][idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        v_ll, v_auc = evaluate(model, va)
        improved = v_ll < best[0] - 1e-4
        if improved:
            best = (v_ll, tree_map(lambda a: a, model.parameters()), epoch)
            bad = 0
        else:
            bad += 1
        print(json.dumps({"phase": name, "epoch": epoch, "step": int(opt.step.item()),
                          "lr": float(f"{opt.learning_rate.item():.3g}"), "trainable": n_train,
                          "train_bce": round(tot / nb, 4), "val_logloss": round(v_ll, 4),
                          "val_auc": round(v_auc, 4), "best": improved, "t": round(time.time() - t0, 1)}))
        if bad >= patience:
            break
    model.update(best[1])
    mx.eval(model.parameters())
    print(json.dumps({"phase": name, "event": "restore", "best_epoch": best[2], "val_logloss": round(best[0], 4)}))


run_phase("joint", 3e-4, 60, 14, 3)
for e in model.embeds:
    e.freeze()                      # keep the learned member/tool tables fixed
run_phase("head", 1e-4, 40, 8, 2)
te_ll, te_auc = evaluate(model, te)
print(json.dumps({"event": "final", "test_logloss": round(te_ll, 4), "test_auc": round(te_auc, 4)}))
