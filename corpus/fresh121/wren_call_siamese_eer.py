"""Field ornithology: is this song bout from the same wren as that one?

Siamese embedding of 20 acoustic measurements of a song bout (synthetic: each bird
has its own template, each bout adds recording-distance gain, tempo drift and
noise). Contrastive loss on cosine similarity. Training is silent; a record of
every 200 steps is kept and the whole history is printed at the end, after an
all-pairs verification pass over held-out birds (equal error rate).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_FEAT = 20
EMB = 16


@mx.custom_function
def unit_rows(x):
    return x / mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-8)


@unit_rows.vjp
def unit_rows_vjp(primals, cotangent, output):
    x = primals  # a single primal comes in bare, not in a tuple
    norm = mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-8)
    y = output
    return (cotangent - y * mx.sum(cotangent * y, axis=-1, keepdims=True)) / norm


def birds(n_birds, bouts, rng, basis):
    templates = rng.normal(size=(n_birds, 6))
    x, who = [], []
    for b in range(n_birds):
        z = templates[b] + 0.45 * rng.normal(size=(bouts, 6))
        feats = np.tanh(z @ basis)
        gain = rng.uniform(0.6, 1.4, size=(bouts, 1))
        drift = 0.15 * rng.normal(size=(bouts, 1)) * np.linspace(-1, 1, N_FEAT)
        x.append(gain * feats + drift + 0.2 * rng.normal(size=(bouts, N_FEAT)))
        who.append(np.full(bouts, b))
    return np.concatenate(x).astype(np.float32), np.concatenate(who)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 64), nn.SiLU(),
                                  nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, EMB))

    def __call__(self, x):
        return unit_rows(self.body(x))


def contrastive(model, xa, xb, same, margin=0.3):
    cos = mx.sum(model(xa) * model(xb), axis=-1)
    pos = same * (1.0 - cos)
    neg = (1.0 - same) * nn.relu(cos - margin)
    return mx.mean(pos + neg)


def make_pairs(x, who, n, rng):
    i = rng.integers(0, len(x), size=n)
    same = rng.random(n) < 0.5
    j = np.empty(n, dtype=np.int64)
    for k in range(n):
        pool = np.flatnonzero(who == who[i[k]]) if same[k] else np.flatnonzero(who != who[i[k]])
        j[k] = pool[rng.integers(len(pool))]
    same = (who[i] == who[j]).astype(np.float32)
    return x[i], x[j], same


def equal_error_rate(model, x, who):
    e = np.array(model(mx.array(x)))
    sim = e @ e.T
    iu = np.triu_indices(len(x), k=1)
    s = sim[iu]
    genuine = (who[:, None] == who[None, :])[iu]
    thresholds = np.quantile(s, np.linspace(0.0, 1.0, 401))
    best = (1.0, 0.0)
    for t in thresholds:
        far = np.mean(s[~genuine] >= t)
        frr = np.mean(s[genuine] < t)
        if abs(far - frr) < best[0]:
            best = (abs(far - frr), 0.5 * (far + frr))
    return 100.0 * best[1], int(genuine.sum()), int((~genuine).sum())


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    basis = rng.normal(size=(6, N_FEAT)) / np.sqrt(6)
    x_tr, who_tr = birds(60, 40, rng, basis)
    x_te, who_te = birds(25, 24, rng, basis)   # birds never heard in training

    model = Encoder()
    mx.eval(model.parameters())

    # check the hand-written VJP against autodiff of the same expression
    probe = mx.random.normal((5, EMB))
    ct = mx.random.normal((5, EMB))
    _, (g_custom,) = mx.vjp(unit_rows, [probe], [ct])
    _, (g_auto,) = mx.vjp(lambda v: v / mx.sqrt(mx.sum(v * v, axis=-1, keepdims=True) + 1e-8), [probe], [ct])
    vjp_err = float(mx.abs(g_custom - g_auto).max())

    opt = optim.Adamax(learning_rate=2e-3)
    step_fn = nn.value_and_grad(model, contrastive)

    eer0, n_gen, n_imp = equal_error_rate(model, x_te, who_te)
    history = []
    steps, batch = 1400, 128
    t0 = time.perf_counter()
    window = []
    zero_leaves = None
    for step in range(1, steps + 1):
        xa, xb, same = make_pairs(x_tr, who_tr, batch, rng)
        loss, grads = step_fn(model, mx.array(xa), mx.array(xb), mx.array(same))
        if step == 1:
            zero_leaves = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            n_leaves = len(tree_flatten(grads))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 200 == 0:
            history.append((step, float(np.mean(window)), time.perf_counter() - t0))
            window = []

    eer, _, _ = equal_error_rate(model, x_te, who_te)
    x_tr_sub, who_tr_sub = x_tr[::3], who_tr[::3]
    eer_tr, _, _ = equal_error_rate(model, x_tr_sub, who_tr_sub)

    print("wren song verification - siamese encoder, contrastive loss (margin 0.3)")
    print(f"  train birds 60 x 40 bouts, held-out birds 25 x 24 bouts "
          f"({n_gen} same-bird pairs, {n_imp} different-bird pairs)")
    print(f"  custom vjp of the row normaliser vs autodiff: max abs diff {vjp_err:.2e}")
    print(f"  first step: {n_leaves} gradient leaves, all-zero leaves: {zero_leaves or 'none'}")
    print()
    print("  step   mean loss (last 200)   elapsed")
    for s, l, t in history:
        print(f"  {s:4d}   {l:20.4f}   {t:6.1f}s")
    print()
    print(f"  held-out EER  before {eer0:5.1f}%   after {eer:5.1f}%")
    print(f"  train-bird EER after {eer_tr:5.1f}%")


if __name__ == "__main__":
    main()
