"""Kernel SVM through a Nystroem feature map, 5-fold cross-validated.

Data: two interleaved noisy spirals in 2-D (binary labels +-1).
Features: an RBF Nystroem map built in NumPy from 120 landmark points of the
training fold (K(x, L) @ K_LL^{-1/2}); the map is data preparation, it has no
trainable parameters.  On top of it a linear SVM (weight vector + bias) is
trained with the squared hinge loss plus an L2 penalty, SGD with momentum and a
cosine learning-rate decay.  The gradient goes through an all_sum over the
distributed group (a group of one when run as a single process) and is divided
by the group size, so the same script runs data-parallel.

Every fold starts from zero weights.  The script prints nothing while it
trains; at the end it prints one reStructuredText table: per fold the squared
hinge loss of the first and last epoch, the held-out error rate in percent
(lower is better) and the error of always predicting the majority class.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim

N_PER_CLASS = 2000
N_LANDMARKS = 200
GAMMA = 6.0          # RBF exp(-gamma |a-b|^2)
LAM = 1e-3           # L2 penalty on w
EPOCHS = 40
BATCH = 64
K_FOLDS = 5

group = mx.distributed.init()


def spirals(n, noise, seed):
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1.0, n)) * 3.0 * np.pi
    a = np.stack([t * np.cos(t), t * np.sin(t)], 1) / (3 * np.pi)
    b = -a
    x = np.concatenate([a, b]) + rng.normal(0, noise, (2 * n, 2))
    y = np.concatenate([np.ones(n), -np.ones(n)])
    p = rng.permutation(2 * n)
    return x[p].astype(np.float32), y[p].astype(np.float32)


def rbf(a, b):
    d2 = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2 * a @ b.T
    return np.exp(-GAMMA * np.maximum(d2, 0.0))


class NystroemMap:
    def __init__(self, x_train, m, seed):
        rng = np.random.default_rng(seed)
        self.landmarks = x_train[rng.choice(len(x_train), m, replace=False)]
        k_ll = rbf(self.landmarks, self.landmarks)
        vals, vecs = np.linalg.eigh(k_ll)
        vals = np.maximum(vals, 1e-8)
        self.whiten = (vecs / np.sqrt(vals)) @ vecs.T

    def __call__(self, x):
        return mx.array((rbf(x, self.landmarks) @ self.whiten).astype(np.float32))


def objective(params, phi, y):
    margin = y * (phi @ params["w"] + params["b"])
    hinge = mx.mean(mx.maximum(0.0, 1.0 - margin) ** 2)
    return hinge + 0.5 * LAM * mx.sum(params["w"] ** 2), hinge


grad_fn = mx.value_and_grad(objective)


def all_reduce_mean(tree):
    n = group.size()
    return {k: mx.distributed.all_sum(v, group=group) / n for k, v in tree.items()}


def error_pct(params, phi, y):
    pred = mx.where(phi @ params["w"] + params["b"] >= 0, 1.0, -1.0)
    return 100.0 * float(mx.mean(pred != y))


def run_fold(fold, x_tr, y_tr, x_te, y_te):
    fmap = NystroemMap(x_tr, N_LANDMARKS, seed=100 + fold)
    phi_tr, phi_te = fmap(x_tr), fmap(x_te)
    ytr, yte = mx.array(y_tr), mx.array(y_te)
    params = {"w": mx.zeros((N_LANDMARKS,)), "b": mx.zeros(())}
    steps_per_epoch = len(x_tr) // BATCH
    opt = optim.SGD(learning_rate=optim.cosine_decay(0.5, EPOCHS * steps_per_epoch, 0.01),
                    momentum=0.9)
    rng = np.random.default_rng(fold)
    epoch_hinge = []
    leaf_check = None
    for epoch in range(EPOCHS):
        order = rng.permutation(len(x_tr))
        total = 0.0
        for s in range(steps_per_epoch):
            idx = mx.array(order[s * BATCH:(s + 1) * BATCH])
            (loss, hinge), grads = grad_fn(params, phi_tr[idx], ytr[idx])
            grads = all_reduce_mean(grads)
            if leaf_check is None:
                leaf_check = all(float(mx.abs(g).max()) > 0 for g in grads.values())
            params = opt.apply_gradients(grads, params)
            mx.eval(params, opt.state, hinge)
            total += hinge.item()
        epoch_hinge.append(total / steps_per_epoch)
    majority = 100.0 * min(np.mean(y_te > 0), np.mean(y_te < 0))
    return dict(fold=fold, first=epoch_hinge[0], last=epoch_hinge[-1],
                err_tr=error_pct(params, phi_tr, ytr), err_te=error_pct(params, phi_te, yte),
                majority=majority, leaves_ok=leaf_check)


def rst_table(header, rows):
    cols = list(zip(header, *rows))
    widths = [max(len(c) for c in col) for col in cols]
    rule = "  ".join("=" * w for w in widths)
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))
    return "\n".join([rule, line(header), rule] + [line(r) for r in rows] + [rule])


def main():
    t0 = time.time()
    x, y = spirals(N_PER_CLASS, noise=0.10, seed=7)
    folds = np.array_split(np.arange(len(x)), K_FOLDS)
    results = []
    for k in range(K_FOLDS):
        te = folds[k]
        tr = np.concatenate([folds[j] for j in range(K_FOLDS) if j != k])
        results.append(run_fold(k + 1, x[tr], y[tr], x[te], y[te]))

    header = ("fold", "hinge ep1", f"hinge ep{EPOCHS}", "train err %", "test err %",
              "majority err %", "grad leaves")
    rows = [(str(r["fold"]), f"{r['first']:.4f}", f"{r['last']:.4f}", f"{r['err_tr']:.2f}",
             f"{r['err_te']:.2f}", f"{r['majority']:.2f}", "2/2" if r["leaves_ok"] else "ZERO")
            for r in results]
    te = np.array([r["err_te"] for r in results])
    print(f"Nystroem RBF SVM, {len(x)} points, {N_LANDMARKS} landmarks, gamma={GAMMA}, "
          f"lambda={LAM}, world size {group.size()}")
    print()
    print(rst_table(header, rows))
    print()
    print(f"cross-validated test error: {te.mean():.2f} % +- {te.std():.2f} "
          f"({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
