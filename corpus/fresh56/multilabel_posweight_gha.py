"""Imbalanced multi-label tagging with a positive-class-weighted BCE.

6 tags with positive rates between ~3% and ~35%, produced by a random
non-linear teacher on 12-D inputs.  Hand-written BCE-with-logits where the
positive term of each tag is weighted by neg/pos counted on the train split,
RMSprop, and gradient accumulation over 4 micro-batches of 64 (gradients are
averaged, evaluated every micro-step).  Output uses GitHub Actions workflow
commands (::group:: / ::notice:: / ::endgroup::) so it folds nicely in CI logs.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)

D, L, NTR, NVA = 12, 6, 4096, 1024
W1 = rng.normal(size=(D, 24)) / np.sqrt(D)
W2 = rng.normal(size=(24, L)) / np.sqrt(24)
bias = np.array([-3.6, -3.0, -2.4, -1.8, -1.2, -0.6])


def sample(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    logits = np.tanh(x @ W1) @ W2 * 3.0 + bias
    y = (rng.random((n, L)) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    return x, y, logits


xtr, ytr, _ = sample(NTR)
xva, yva, teacher_va = sample(NVA)
pos_rate = ytr.mean(0)
pos_weight = mx.array((1 - pos_rate) / np.maximum(pos_rate, 1e-3), dtype=mx.float32)
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D, 64)
        self.norm = nn.LayerNorm(64)
        self.hid = nn.Linear(64, 64)
        self.out = nn.Linear(64, L)

    def __call__(self, x):
        h = nn.silu(self.norm(self.inp(x)))
        h = h + nn.silu(self.hid(h))
        return self.out(h)


def weighted_bce(model, x, y):
    z = model(x)
    # -[pw * y * log s(z) + (1 - y) * log(1 - s(z))]
    per = -(pos_weight * y * nn.log_sigmoid(z) + (1 - y) * nn.log_sigmoid(-z))
    return per.mean()


def f1_scores(model, x, y):
    pred = (model(x) > 0).astype(mx.float32)
    tp = (pred * y).sum(0)
    fp = (pred * (1 - y)).sum(0)
    fn = ((1 - pred) * y).sum(0)
    per_tag = 2 * tp / mx.maximum(2 * tp + fp + fn, 1.0)
    micro = 2 * tp.sum() / mx.maximum(2 * tp.sum() + fp.sum() + fn.sum(), 1.0)
    return per_tag, micro


model = Tagger()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, weighted_bce)
opt = optim.RMSprop(learning_rate=2e-4)

_, g0 = loss_and_grad(model, Xtr[:256], Ytr[:256])
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"::debug::first-step grad check {len(tree_flatten(g0))} leaves, all-zero: {dead or 'none'}")
print("::notice title=data::train positive rates " + " ".join(f"{r:.3f}" for r in pos_rate))

MICRO, ACCUM, EPOCHS = 64, 4, 30
for epoch in range(1, EPOCHS + 1):
    print(f"::group::epoch {epoch}")
    order = mx.array(np.random.default_rng(epoch).permutation(NTR))
    acc, n_micro, run, updates = None, 0, 0.0, 0
    for s in range(0, NTR, MICRO):
        idx = order[s:s + MICRO]
        loss, g = loss_and_grad(model, Xtr[idx], Ytr[idx])
        acc = g if acc is None else tree_map(mx.add, acc, g)
        n_micro += 1
        mx.eval(acc, loss)
        run += loss.item()
        if n_micro == ACCUM:
            opt.update(model, tree_map(lambda a: a / ACCUM, acc))
            mx.eval(model.parameters(), opt.state)
            acc, n_micro = None, 0
            updates += 1
    per_tag, micro = f1_scores(model, Xva, Yva)
    val_loss = weighted_bce(model, Xva, Yva).item()
    print(f"::notice title=epoch {epoch}::train_wbce={run / (NTR // MICRO):.4f} "
          f"val_wbce={val_loss:.4f} micro_f1={micro.item():.3f} "
          f"macro_f1={per_tag.mean().item():.3f} updates={updates}")
    print("::endgroup::")

# Bayes-style reference: the same pos-weighted decision rule applied to the teacher's logits
ref_pred = mx.array(teacher_va, dtype=mx.float32) + mx.log(pos_weight) > 0
ref_model = lambda x: mx.where(ref_pred, 1.0, -1.0)
ref_tag, ref_micro = f1_scores(ref_model, Xva, Yva)
print(f"::notice title=reference::teacher-logit rule micro {ref_micro.item():.3f} macro {ref_tag.mean().item():.3f}")
per_tag, micro = f1_scores(model, Xva, Yva)
print("::notice title=summary::per-tag F1 " + " ".join(f"{v:.2f}" for v in per_tag.tolist())
      + f" | micro {micro.item():.3f} macro {per_tag.mean().item():.3f}")
