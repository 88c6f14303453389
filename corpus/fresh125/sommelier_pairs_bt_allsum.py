"""Blind-tasting panel: learn a wine score from lab chemistry so that it agrees
with which of two glasses the panel preferred (Bradley-Terry on score gaps).

5-fold cross-validation over the tasting sheets, a fresh scorer per fold, SGD with
Nesterov momentum, gradients averaged with mx.distributed (works as a group of one),
early stopping on held-out agreement with the best weights put back.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)

N_WINES = 420
N_PAIRS = 4200
FEATS = ["fixed_acid", "volatile_acid", "citric", "res_sugar", "chlorides",
         "free_so2", "total_so2", "pH", "sulphates", "alcohol"]


def make_cellar():
    raw = rng.normal(0.0, 1.0, (N_WINES, len(FEATS)))
    va, cit, sug, chl = raw[:, 1], raw[:, 2], raw[:, 3], raw[:, 4]
    sul, alc, fso2, tso2 = raw[:, 8], raw[:, 9], raw[:, 5], raw[:, 6]
    quality = (0.9 * alc - 1.0 * va + 0.45 * sul - 0.35 * (sug - 0.5) ** 2
               + 0.3 * cit * alc - 0.4 * np.maximum(tso2 - fso2, 0.0) - 0.2 * chl)
    a = rng.integers(0, N_WINES, N_PAIRS)
    b = (a + rng.integers(1, N_WINES, N_PAIRS)) % N_WINES
    p_a = 1.0 / (1.0 + np.exp(-(quality[a] - quality[b]) / 0.6))
    won = (rng.random(N_PAIRS) < p_a).astype(np.float32)
    return raw.astype(np.float32), a, b, won, p_a


class Scorer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.l1 = nn.Linear(d, 32)
        self.l2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 1, bias=False)  # a bias cancels in score gaps

    def __call__(self, x):
        return self.head(mx.tanh(self.l2(mx.tanh(self.l1(x))))).squeeze(-1)


def bt_loss(model, xa, xb, won):
    gap = model(xa) - model(xb)
    return nn.losses.binary_cross_entropy(gap, won, with_logits=True, reduction="mean")


def agreement(model, X, a, b, won):
    gap = np.array(model(mx.array(X[a])) - model(mx.array(X[b])))
    return 100.0 * float(((gap > 0) == (won > 0.5)).mean())


def bar(done, total, width=12):
    k = int(round(width * done / total))
    return "|" + "#" * k + "-" * (width - k) + "|"


def main():
    t0 = time.time()
    group = mx.distributed.init()
    world = group.size()
    X, A, B, WON, P_A = make_cellar()
    folds = np.array_split(rng.permutation(N_PAIRS), 5)
    rows = []
    for k in range(5):
        va_idx = folds[k]
        tr_idx = np.concatenate([folds[j] for j in range(5) if j != k])
        oracle = 100.0 * float(np.maximum(P_A[va_idx], 1 - P_A[va_idx]).mean())
        coin = 100.0 * float(max(WON[va_idx].mean(), 1 - WON[va_idx].mean()))

        mx.random.seed(100 + k)
        model = Scorer(len(FEATS))
        mx.eval(model.parameters())
        opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
        vg = nn.value_and_grad(model, bt_loss)

        if k == 0:
            xa, xb, w = mx.array(X[A[:256]]), mx.array(X[B[:256]]), mx.array(WON[:256])
            _, g = vg(model, xa, xb, w)
            zero = [n for n, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
            print(f"[check] world={world} params={len(tree_flatten(g))} zero-grad tensors={zero}")

        best, best_ep, best_w, bad = -1.0, 0, None, 0
        n_batches = len(tr_idx) // 128
        agree0 = agreement(model, X, A[va_idx], B[va_idx], WON[va_idx])
        print(f"fold {k + 1}/5 ep 00 {bar(0, n_batches)} 0/{n_batches} bt_loss=  -    agree={agree0:.1f}% "
              f"lr={float(opt.learning_rate.item()):.3f}")
        for ep in range(1, 41):
            if ep == 21:
                opt.learning_rate = 0.015
            perm = rng.permutation(tr_idx)
            run = 0.0
            for i in range(n_batches):
                idx = perm[i * 128:(i + 1) * 128]
                loss, grads = vg(model, mx.array(X[A[idx]]), mx.array(X[B[idx]]), mx.array(WON[idx]))
                grads = tree_map(lambda t: mx.distributed.all_sum(t) / world, grads)
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                run += loss.item()
            agree = agreement(model, X, A[va_idx], B[va_idx], WON[va_idx])
            lr_now = float(opt.learning_rate.item())
            print(f"fold {k + 1}/5 ep {ep:02d} {bar(n_batches, n_batches)} {n_batches}/{n_batches} "
                  f"bt_loss={run / n_batches:.4f} agree={agree:.1f}% lr={lr_now:.3f}")
            if agree > best:
                best, best_ep, bad = agree, ep, 0
                best_w = tree_map(lambda t: mx.array(t), model.parameters())
            else:
                bad += 1
                if bad >= 6:
                    print(f"fold {k + 1}/5 early stop at ep {ep}, restoring ep {best_ep}")
                    break
        model.update(best_w)
        mx.eval(model.parameters())
        final = agreement(model, X, A[va_idx], B[va_idx], WON[va_idx])
        rows.append((k + 1, best_ep, final, oracle, coin))
        sys.stdout.flush()

    print()
    print("fold | best_ep | agree%  | oracle% | majority%")
    print("-----+---------+---------+---------+----------")
    for f, e, ag, orc, coin in rows:
        print(f"  {f}  |   {e:3d}   | {ag:6.2f}  | {orc:6.2f}  | {coin:6.2f}")
    m = np.mean([r[2] for r in rows])
    print(f"mean agreement {m:.2f}% (oracle {np.mean([r[3] for r in rows]):.2f}%), {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
