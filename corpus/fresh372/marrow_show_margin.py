"""Village-show marrow judging.

Judges compare two marrows at a time; we learn a scoring rule from 6 bench
measurements so the show secretary can pre-order the table.  Training pairs are
only the clear-cut verdicts (quality gap > 1.0), so a linear scorer can satisfy
every pair with margin; the hinge (margin ranking) loss then sits at exactly 0
and plain SGD stops moving the weights -- which is the intended end state.
The run is split in two sessions with a checkpoint in between.
"""
import json
import os
import shutil

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
D = 6  # length, girth, skin gloss, colour evenness, blemish count, stalk neatness
w_true = np.array([0.9, 0.7, 0.5, 0.6, -0.8, 0.3], dtype=np.float32)


def marrows(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    return x, x @ w_true


def clear_pairs(q, n_pairs, gap):
    a = rng.integers(0, len(q), size=n_pairs * 4)
    b = rng.integers(0, len(q), size=n_pairs * 4)
    keep = np.abs(q[a] - q[b]) > gap
    a, b = a[keep][:n_pairs], b[keep][:n_pairs]
    t = np.where(q[a] > q[b], 1.0, -1.0).astype(np.float32)
    return a, b, t


xtr, qtr = marrows(900)
xva, qva = marrows(300)
ia, ib, tt = clear_pairs(qtr, 4096, gap=1.0)
Xtr = mx.array(xtr)
IA, IB, TT = mx.array(ia), mx.array(ib), mx.array(tt)
print(f"train marrows 900, clear-cut verdict pairs {len(tt)}, val marrows 300 (all pairs)")


class Judge(nn.Module):
    def __init__(self):
        super().__init__()
        self.rule = nn.Linear(D, 1, bias=False)

    def __call__(self, x):
        return self.rule(x).squeeze(-1)


def loss_fn(model, x, a, b, t):
    s = model(x)
    return nn.losses.margin_ranking_loss(s[a], s[b], t, margin=1.0, reduction="mean")


def val_report(model):
    s = np.array(model(mx.array(xva)))
    i, j = np.triu_indices(len(qva), 1)
    agree = np.sign(s[i] - s[j]) == np.sign(qva[i] - qva[j])
    n = len(i)
    tau = (2 * agree.sum() - n) / n
    base = np.sign(xva[i, 0] - xva[j, 0]) == np.sign(qva[i] - qva[j])
    return agree.mean(), tau, base.mean()


def flat(model):
    return np.concatenate([np.array(v).ravel() for _, v in tree_flatten(model.parameters())])


def run_session(model, opt, epochs, start, bs=512):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(start, start + epochs):
        before = flat(model)
        perm = rng.permutation(len(tt))
        tot, active = 0.0, 0
        for k in range(0, len(perm), bs):
            idx = mx.array(perm[k:k + bs])
            a, b, t = IA[idx], IB[idx], TT[idx]
            loss, g = step_fn(model, Xtr, a, b, t)
            s = model(Xtr)
            active += int(((1.0 - t * (s[a] - s[b])) > 0).sum())
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss) * len(idx)
        moved = float(np.abs(flat(model) - before).max())
        acc, tau, base = val_report(model)
        print(f"epoch {ep:02d}  hinge {tot / len(tt):.6f}  active_pairs {active:5d}/{len(tt)}  "
              f"max|dw| {moved:.3e}  val_pair_acc {acc:.4f}  kendall {tau:.4f}  (length-only {base:.4f})")


model = Judge()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.5)
print("session 1")
run_session(model, opt, 15, 1)

ckdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "marrow_ckpt")
os.makedirs(ckdir, exist_ok=True)
model.save_weights(os.path.join(ckdir, "judge.safetensors"))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"epoch": 15, "lr": 0.5}, f)
saved = flat(model)
print(f"checkpoint written to {ckdir}")

model2 = Judge()
model2.load_weights(os.path.join(ckdir, "judge.safetensors"))
mx.eval(model2.parameters())
meta = json.load(open(os.path.join(ckdir, "meta.json")))
assert np.array_equal(flat(model2), saved)
opt2 = optim.SGD(learning_rate=meta["lr"])
print(f"session 2 (resumed at epoch {meta['epoch']}, weights identical: True)")
run_session(model2, opt2, 15, meta["epoch"] + 1)

acc, tau, base = val_report(model2)
w = flat(model2)
cos = float(w @ w_true / (np.linalg.norm(w) * np.linalg.norm(w_true)))
shutil.rmtree(ckdir)
print(f"final: val pairwise accuracy {acc:.4f} (random 0.5000, length-only {base:.4f}), "
      f"kendall tau {tau:.4f}, cosine(rule, judges' rule) {cos:.4f}")
