"""Fleur-de-sel grading at a salt works: softmax regression, SGD vs natural gradient.

Each harvested pan is graded into one of four classes from ten pan readings.
The same linear softmax model is trained twice, one run after the other, from
the same starting weights:

  run "sgd"     : plain minibatch gradient descent
  run "natgrad" : natural gradient - the gradient is preconditioned with the exact
                  Fisher information of the softmax model on the minibatch
                  (plus a small damping term), solved with mx.linalg.solve

The parameters are a plain dict {"W": (4, 10), "b": (4,)}; the update is written by
hand over tree_flatten / tree_unflatten.  Labels are sampled from a softmax of the
true scores, so the achievable NLL floor is well above zero.
"""

import time

import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten, tree_map

GRADES = ["fleur", "fine", "coarse", "reject"]
N_FEAT, N_CLS = 10, 4
N_TRAIN, N_VAL = 20000, 4000
BATCH = 100
EPOCHS = 15
FEATURES = ["brine_density", "air_temp", "wind", "humidity", "sun_hours",
            "clay_turbidity", "rake_hour", "pan_age", "crust_depth", "algae_index"]


def make_pans(rng, n):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    # made-up grading law: a linear score plus a mild interaction
    w = np.array([
        [1.6, 0.6, 1.0, -1.2, 0.9, -1.0, 0.5, -0.3, -0.6, -0.8],
        [0.7, 0.4, 0.3, -0.3, 0.5, -0.2, 0.0, 0.1, 0.2, -0.2],
        [-0.5, -0.2, -0.6, 0.6, -0.4, 0.3, -0.2, 0.3, 0.9, 0.1],
        [-1.4, -0.7, -0.8, 0.9, -1.0, 1.2, -0.3, 0.2, -0.4, 1.1],
    ], dtype=np.float32)
    b = np.array([-0.3, 0.4, 0.2, -0.4], dtype=np.float32)
    s = x @ w.T + b
    s[:, 3] += 0.4 * x[:, 5] * x[:, 9]
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    u = rng.random(n)[:, None]
    y = (u > np.cumsum(p, 1)).sum(1).clip(0, N_CLS - 1)
    return x, y.astype(np.int32), p


def nll(params, x, y):
    logits = x @ params["W"].T + params["b"]
    lse = mx.logsumexp(logits, axis=1)
    picked = mx.take_along_axis(logits, y[:, None], axis=1)[:, 0]
    return mx.mean(lse - picked)


loss_and_grad = mx.value_and_grad(nll)


def evaluate(params, x, y):
    logits = x @ params["W"].T + params["b"]
    loss = mx.mean(mx.logsumexp(logits, axis=1)
                   - mx.take_along_axis(logits, y[:, None], axis=1)[:, 0])
    err = mx.mean(mx.argmax(logits, axis=1) != y)
    return loss.item(), 100.0 * err.item()


def fisher(params, x):
    """Exact Fisher of the softmax model for the minibatch, in (class, input+1) order."""
    xa = mx.concatenate([x, mx.ones((x.shape[0], 1))], axis=1)           # (B, 11)
    p = mx.softmax(x @ params["W"].T + params["b"], axis=1)               # (B, 4)
    a = mx.eye(N_CLS)[None] * p[:, :, None] - p[:, :, None] * p[:, None, :]
    f = mx.einsum("bcd,bj,bk->cjdk", a, xa, xa) / x.shape[0]
    k = N_CLS * (N_FEAT + 1)
    return f.reshape(k, k)


def to_theta(tree):
    return mx.concatenate([tree["W"], tree["b"][:, None]], axis=1)      # (4, 11)


def from_theta(theta):
    return {"W": theta[:, :N_FEAT], "b": theta[:, N_FEAT]}


class Run:
    def __init__(self, name, lr, damping=None, decay=0.0):
        self.name, self.lr0, self.damping, self.decay = name, lr, damping, decay
        self.lr = lr

    def start_epoch(self, epoch):
        # 1/t decay per epoch (decay=0 keeps the rate constant)
        self.lr = self.lr0 / (1.0 + self.decay * (epoch - 1))

    def step(self, params, x, y):
        loss, grads = loss_and_grad(params, x, y)
        if self.damping is None:
            update = grads
        else:
            g = to_theta(grads).reshape(-1)
            f = fisher(params, x) + self.damping * mx.eye(g.shape[0])
            nat = mx.linalg.solve(f, g, stream=mx.cpu)
            update = from_theta(nat.reshape(N_CLS, N_FEAT + 1))
        flat_p = dict(tree_flatten(params))
        flat_u = dict(tree_flatten(update))
        new = [(k, flat_p[k] - self.lr * flat_u[k]) for k in flat_p]
        return loss, grads, tree_unflatten(new)


def train(run, init, xtr, ytr, xva, yva, seed):
    params = tree_map(lambda a: mx.array(a), init)
    rng = np.random.default_rng(seed)
    n = xtr.shape[0]
    rows = []
    vl, ve = evaluate(params, xva, yva)
    rows.append((0, float("nan"), vl, ve, 0.0))
    steps = 0
    for epoch in range(1, EPOCHS + 1):
        run.start_epoch(epoch)
        order = rng.permutation(n)
        tot, cnt = 0.0, 0
        for s in range(0, n, BATCH):
            idx = mx.array(order[s:s + BATCH])
            xb, yb = xtr[idx], ytr[idx]
            loss, grads, params = run.step(params, xb, yb)
            mx.eval(params, loss)
            steps += 1
            if steps == 1:
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
                print(f"  [{run.name}] first step: {len(leaves)} gradient leaves, "
                      f"all-zero leaves: {zero}")
            tot += loss.item() * xb.shape[0]
            cnt += xb.shape[0]
        vl, ve = evaluate(params, xva, yva)
        rows.append((epoch, tot / cnt, vl, ve, run.lr))
    return params, rows, steps


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    xtr_np, ytr_np, _ = make_pans(rng, N_TRAIN)
    xva_np, yva_np, pva = make_pans(rng, N_VAL)
    floor = float(-np.mean(np.log(pva[np.arange(N_VAL), yva_np])))
    bayes_err = 100.0 * float(np.mean(pva.argmax(1) != yva_np))
    counts = np.bincount(ytr_np, minlength=N_CLS) / N_TRAIN
    print("salt works grading:", ", ".join(f"{g} {100*c:.0f}%" for g, c in zip(GRADES, counts)))
    print(f"features: {', '.join(FEATURES)}")
    print(f"validation NLL of the true grading law: {floor:.4f} nats "
          f"(its error rate {bayes_err:.1f}%)")

    xtr, ytr = mx.array(xtr_np), mx.array(ytr_np)
    xva, yva = mx.array(xva_np), mx.array(yva_np)

    mx.random.seed(7)
    init = {"W": 0.05 * mx.random.normal((N_CLS, N_FEAT)), "b": mx.zeros((N_CLS,))}
    mx.eval(init)

    runs = [Run("sgd", lr=0.5), Run("natgrad", lr=0.5, damping=1e-3, decay=1.0)]
    summary = []
    for run in runs:
        t1 = time.time()
        print()
        print(f"== run {run.name}: lr {run.lr0}" +
              (f" / (1 + {run.decay} * (epoch - 1))" if run.decay else " constant") +
              ("" if run.damping is None else f", Fisher damping {run.damping}"))
        params, rows, steps = train(run, init, xtr, ytr, xva, yva, seed=11)
        print(f"  {'epoch':>5}  {'lr':>6}  {'train_nll':>9}  {'val_nll':>8}  {'val_err%':>8}")
        for ep, tr, vl, ve, lr in rows:
            trs = "        -" if np.isnan(tr) else f"{tr:9.4f}"
            lrs = "     -" if ep == 0 else f"{lr:6.3f}"
            print(f"  {ep:5d}  {lrs}  {trs}  {vl:8.4f}  {ve:8.2f}")
        final = rows[-1][2]
        first_close = next(r[0] for r in rows if r[2] <= final + 0.01)
        summary.append((run.name, final, rows[-1][3], first_close, steps, time.time() - t1))

    print()
    print("summary (val_nll lower is better; 'within' = first epoch whose val_nll is "
          "within 0.01 of that run's final value)")
    for name, vl, ve, fc, steps, secs in summary:
        print(f"  {name:8s} val_nll {vl:.4f}  val_err {ve:.2f}%  within@epoch {fc}  "
              f"steps {steps}  {secs:.1f}s")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
