"""Perfumery: classify a formula into one of 5 olfactive families from its ingredient list.

Each formula is a bag of up to 12 ingredient ids (of 60). The ingredient table is a FIXED
random code (frozen on purpose, never trained); only the pooling MLP learns.
Early stopping on validation error restores the best weights at the end.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_ING, MAXLEN, N_FAM = 60, 12, 5
FAMILIES = ["citrus", "floral", "woody", "oriental", "fougere"]


def make_formulas(n, rng, affinity):
    lens = rng.integers(5, MAXLEN + 1, n)
    fam = rng.integers(0, N_FAM, n)
    ids = np.zeros((n, MAXLEN), np.int32)
    mask = np.zeros((n, MAXLEN), np.float32)
    for i in range(n):
        p = affinity[fam[i]]
        ids[i, :lens[i]] = rng.choice(N_ING, lens[i], replace=False, p=p)
        mask[i, :lens[i]] = 1.0
    return ids, mask, fam.astype(np.int32)


class FormulaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.codes = nn.Embedding(N_ING, 24)
        self.mlp = nn.Sequential(nn.Linear(24, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                                 nn.Linear(64, N_FAM))

    def __call__(self, ids, mask):
        e = self.codes(ids) * mask[..., None]
        pooled = e.sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return self.mlp(pooled)


def main():
    rng = np.random.default_rng(5)
    raw = rng.gamma(0.4, 1.0, (N_FAM, N_ING)) + 0.02
    affinity = raw / raw.sum(1, keepdims=True)
    tr = make_formulas(4000, rng, affinity)
    va = make_formulas(800, rng, affinity)
    te = make_formulas(800, rng, affinity)
    tr_m, va_m, te_m = [tuple(mx.array(a) for a in s) for s in (tr, va, te)]

    mx.random.seed(0)
    model = FormulaNet()
    code = rng.standard_normal((N_ING, 24)).astype(np.float32)
    code /= np.linalg.norm(code, axis=1, keepdims=True)
    model.codes.weight = mx.array(code)
    model.codes.freeze()                     # fixed ingredient code, on purpose
    frozen_before = np.array(model.codes.weight)

    opt = optim.Lion(learning_rate=3e-4, weight_decay=0.01)
    loss_fn = lambda ids, mask, y: nn.losses.cross_entropy(model(ids, mask), y, reduction="mean")
    step = nn.value_and_grad(model, loss_fn)

    def err_rate(split):
        ids, mask, y = split
        return (mx.mean(mx.argmax(model(ids, mask), axis=1) != y) * 100).item()

    def ce(split):
        ids, mask, y = split
        return nn.losses.cross_entropy(model(ids, mask), y, reduction="mean").item()

    n_tr = len(tr[2])
    print(f"formulas: train={n_tr} val={len(va[2])} test={len(te[2])}, ingredients={N_ING}, families={FAMILIES}")
    trainable = [k for k, _ in tree_flatten(model.trainable_parameters())]
    print(f"trainable arrays ({len(trainable)}): {', '.join(trainable)}; frozen: codes.weight")
    _, g = step(tr_m[0][:64], tr_m[1][:64], tr_m[2][:64])
    zero = [k for k, v in tree_flatten(g) if not mx.any(v != 0).item()]
    print(f"first-batch gradients: {len(tree_flatten(g))} arrays, all-zero: {zero or 'none'}")
    print(f"[ep 00] val_ce={ce(va_m):.4f} val_err={err_rate(va_m):5.1f}%  (chance error 80%)")

    best_err, best_ep, best_w, patience, wait = float("inf"), 0, None, 5, 0
    bs, t0 = 50, time.time()
    for ep in range(1, 61):
        perm = rng.permutation(n_tr)
        run = 0.0
        for b, i in enumerate(range(0, n_tr, bs)):
            idx = mx.array(perm[i:i + bs])
            loss, grads = step(tr_m[0][idx], tr_m[1][idx], tr_m[2][idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        v_err = err_rate(va_m)
        mark = ""
        if v_err < best_err - 1e-9:
            best_err, best_ep, wait, mark = v_err, ep, 0, " *"
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            wait += 1
        print(f"[ep {ep:02d}] train_ce={run / (b + 1):.4f} val_ce={ce(va_m):.4f} "
              f"val_err={v_err:5.1f}% wait={wait}/{patience} ({time.time() - t0:.1f}s){mark}")
        if wait >= patience:
            print(f"stopping early: no val_err improvement for {patience} epochs")
            break
    model.update(best_w)
    mx.eval(model.parameters())
    drift = float(np.abs(np.array(model.codes.weight) - frozen_before).max())
    print(f"restored epoch {best_ep} weights (val_err {best_err:.1f}%), test_err={err_rate(te_m):.1f}% "
          f"test_ce={ce(te_m):.4f}; frozen code max change {drift:.1e}")


if __name__ == "__main__":
    main()
