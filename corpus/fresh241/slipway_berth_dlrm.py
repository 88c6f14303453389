"""Marina berth offers: will a visiting boater accept the slip we offer?

DLRM-style model: a bottom MLP for the dense features, one embedding table per
categorical field, pairwise dot-product interactions between all feature
vectors, and a top MLP producing the acceptance logit. The data come from a
known generator, so the Bayes log-loss (the floor no model can beat) is
printed beside the training curve together with a dense-only logistic baseline.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

FIELDS = {"boat_class": 12, "marina": 20, "month": 12, "loyalty": 5}
N_DENSE = 4
EMB = 8
EPOCHS = 6
BATCH = 256
WARMUP = 60

gen = np.random.default_rng(31)
hidden = {k: gen.normal(0, 1, size=(n, 3)) for k, n in FIELDS.items()}
dense_w = np.array([0.8, -0.6, 0.4, -1.1])


def make(n, g):
    cats = {k: g.integers(0, v, size=n) for k, v in FIELDS.items()}
    dense = g.normal(0, 1, size=(n, N_DENSE)).astype(np.float32)
    logit = dense @ dense_w - 0.3
    logit += (hidden["boat_class"][cats["boat_class"]] * hidden["marina"][cats["marina"]]).sum(1)
    logit += 0.7 * (hidden["month"][cats["month"]] * hidden["marina"][cats["marina"]]).sum(1)
    logit += 0.5 * hidden["loyalty"][cats["loyalty"]][:, 0]
    p = 1 / (1 + np.exp(-logit))
    y = (g.random(n) < p).astype(np.float32)
    c = np.stack([cats[k] for k in FIELDS], 1).astype(np.int32)
    return dense, c, y, p


d_tr, c_tr, y_tr, p_tr = make(20000, gen)
d_te, c_te, y_te, p_te = make(5000, np.random.default_rng(32))


def bayes_logloss(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def auc(y, s):
    order = np.argsort(s)
    r = np.empty(len(s))
    r[order] = np.arange(1, len(s) + 1)
    npos = y.sum()
    return float((r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * (len(y) - npos)))


class DLRM(nn.Module):
    def __init__(self):
        super().__init__()
        self.bottom = nn.Sequential(nn.Linear(N_DENSE, 32), nn.ReLU(), nn.Linear(32, EMB), nn.ReLU())
        self.tables = [nn.Embedding(v, EMB) for v in FIELDS.values()]
        n_vec = len(FIELDS) + 1
        self.iu = np.triu_indices(n_vec, k=1)
        n_inter = len(self.iu[0])
        self.top = nn.Sequential(nn.Linear(EMB + n_inter, 64), nn.ReLU(), nn.Linear(64, 1))

    def __call__(self, dense, cats):
        z = self.bottom(dense)
        vecs = [z] + [t(cats[:, i]) for i, t in enumerate(self.tables)]
        T = mx.stack(vecs, axis=1)                      # B, F+1, EMB
        inter = T @ T.transpose(0, 2, 1)                # B, F+1, F+1
        flat = inter[:, mx.array(self.iu[0]), mx.array(self.iu[1])]
        return self.top(mx.concatenate([z, flat], axis=1)).squeeze(-1)


def bce(model, d, c, y):
    return nn.losses.binary_cross_entropy(model(d, c), y, with_logits=True, reduction="mean")


class DenseLogistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(N_DENSE, 1)

    def __call__(self, d, c):
        return self.lin(d).squeeze(-1)


def fit(model, epochs, lr_peak, label, verbose):
    steps_per_epoch = len(y_tr) // BATCH
    total = epochs * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, lr_peak, WARMUP),
         optim.cosine_decay(lr_peak, total - WARMUP, lr_peak * 0.05)], [WARMUP])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, bce)
    order_rng = np.random.default_rng(4)
    Xd, Xc, Y = mx.array(d_tr), mx.array(c_tr), mx.array(y_tr)
    for ep in range(1, epochs + 1):
        perm = order_rng.permutation(len(y_tr))
        tot = 0.0
        for s in range(steps_per_epoch):
            idx = mx.array(perm[s * BATCH:(s + 1) * BATCH])
            loss, g = step_fn(model, Xd[idx], Xc[idx], Y[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
        if verbose:
            te_logit = model(mx.array(d_te), mx.array(c_te))
            te_loss = bce(model, mx.array(d_te), mx.array(c_te), mx.array(y_te)).item()
            print(f"[{label}] epoch {ep}  train logloss {tot / steps_per_epoch:.4f}  "
                  f"test logloss {te_loss:.4f}  test AUC {auc(y_te, np.array(te_logit)):.4f}")
    te_logit = np.array(model(mx.array(d_te), mx.array(c_te)))
    return bce(model, mx.array(d_te), mx.array(c_te), mx.array(y_te)).item(), auc(y_te, te_logit)


def main():
    t0 = time.time()
    mx.random.seed(0)
    print(f"acceptance rate {y_tr.mean():.3f}; Bayes floor test logloss {bayes_logloss(y_te, p_te):.4f} "
          f"AUC {auc(y_te, p_te):.4f}")
    base_loss, base_auc = fit(DenseLogistic(), 2, 5e-2, "dense-only", verbose=False)
    print(f"dense-only logistic baseline: test logloss {base_loss:.4f}  AUC {base_auc:.4f}")
    loss, a = fit(DLRM(), EPOCHS, 4e-3, "dlrm", verbose=True)
    print(f"final DLRM test logloss {loss:.4f} AUC {a:.4f} | dense-only {base_loss:.4f}/{base_auc:.4f} "
          f"| Bayes {bayes_logloss(y_te, p_te):.4f}")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
