"""Hill-climb time-trial start-list seeding.

Each heat has 12 riders; the organiser wants the strongest riders started last,
so we learn a score from 7 entry-form readings and rank riders within a heat.
Objective: RankNet pairwise logistic loss over every ordered pair in a heat.
Training is full-batch with a hand-written L-BFGS (two-loop recursion,
Armijo backtracking) on one flat parameter vector -- no optimizer object.
"""
import math
import time

import mlx.core as mx
import numpy as np

rng = np.random.default_rng(7)
N_TRAIN, N_VAL, HEAT, D, H = 400, 120, 12, 7, 16


def make_heats(n):
    # w/kg, recent best (z), age, bike mass, years racing, weekly hours, wind-on-course
    x = rng.normal(size=(n, HEAT, D)).astype(np.float32)
    wkg, best, age, bike, yrs, hours, wind = [x[..., i] for i in range(D)]
    ability = (1.2 * wkg + 0.6 * best - 0.25 * age**2 - 0.3 * bike
               + 0.4 * np.tanh(yrs) + 0.3 * hours * (wkg > 0) - 0.1 * wind)
    noisy = ability + rng.normal(scale=0.45, size=ability.shape)  # race-day luck
    return x, noisy.astype(np.float32), ability.astype(np.float32)


xtr, ytr, _ = make_heats(N_TRAIN)
xva, yva, ava = make_heats(N_VAL)
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva = mx.array(xva)

# flat parameter layout: W1 (D,H) b1 (H) W2 (H,H) b2 (H) w3 (H)
shapes = [(D, H), (H,), (H, H), (H,), (H,)]
sizes = [int(np.prod(s)) for s in shapes]
P = sum(sizes)


def unflat(theta):
    out, o = [], 0
    for s, k in zip(shapes, sizes):
        out.append(theta[o:o + k].reshape(s))
        o += k
    return out


def score(theta, x):
    W1, b1, W2, b2, w3 = unflat(theta)
    h = mx.tanh(x @ W1 + b1)
    h = mx.tanh(h @ W2 + b2)
    return h @ w3


def ranknet(theta, x, y):
    s = score(theta, x)
    ds = s[:, :, None] - s[:, None, :]
    pref = (y[:, :, None] > y[:, None, :]).astype(mx.float32)
    # -log sigmoid(ds) on the preferred pairs
    l = mx.logaddexp(mx.zeros_like(ds), -ds) * pref
    return l.sum() / pref.sum() + 1e-4 * (theta * theta).sum()


vg = mx.value_and_grad(ranknet)


def ndcg_at(scores, ability, k=5):
    # graded relevance 0..3 from within-heat quartile of true ability
    order_true = np.argsort(-ability, axis=1)
    rel = np.zeros_like(ability)
    grades = np.array([3] * 3 + [2] * 3 + [1] * 3 + [0] * 3, dtype=np.float32)
    np.put_along_axis(rel, order_true, grades[None, :].repeat(len(rel), 0), axis=1)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    pred = np.argsort(-scores, axis=1)[:, :k]
    dcg = ((2 ** np.take_along_axis(rel, pred, 1) - 1) * disc).sum(1)
    ideal = ((2 ** np.sort(rel, 1)[:, ::-1][:, :k] - 1) * disc).sum(1)
    return float((dcg / ideal).mean())


def spearman(scores, ability):
    r1 = np.argsort(np.argsort(scores, 1), 1).astype(np.float64)
    r2 = np.argsort(np.argsort(ability, 1), 1).astype(np.float64)
    r1 -= r1.mean(1, keepdims=True)
    r2 -= r2.mean(1, keepdims=True)
    return float(((r1 * r2).sum(1) / np.sqrt((r1**2).sum(1) * (r2**2).sum(1))).mean())


theta = mx.array(rng.normal(scale=0.3, size=(P,)).astype(np.float32))
m_hist, s_hist, y_hist = 8, [], []
loss, g = vg(theta, Xtr, Ytr)
mx.eval(loss, g)

print(f"riders: {N_TRAIN * HEAT} train in {N_TRAIN} heats, {N_VAL} val heats, params={P}")
base_rand = ndcg_at(rng.normal(size=ava.shape), ava)
base_wkg = ndcg_at(xva[..., 0], ava)
print(f"baseline val NDCG@5  random={base_rand:.3f}  w/kg-only={base_wkg:.3f}")
print("it | loss     | |grad|    | step     | backtracks | val NDCG@5 | val rho")
t0 = time.time()
for it in range(1, 121):
    # two-loop recursion
    q = g
    alphas = []
    for s_k, y_k in reversed(list(zip(s_hist, y_hist))):
        rho_k = 1.0 / mx.sum(y_k * s_k)
        a = rho_k * mx.sum(s_k * q)
        q = q - a * y_k
        alphas.append((a, rho_k, s_k, y_k))
    if s_hist:
        gamma = mx.sum(s_hist[-1] * y_hist[-1]) / mx.sum(y_hist[-1] * y_hist[-1])
    else:
        gamma = 1.0 / (mx.sqrt(mx.sum(g * g)) + 1e-8)
    r = gamma * q
    for a, rho_k, s_k, y_k in reversed(alphas):
        b = rho_k * mx.sum(y_k * r)
        r = r + s_k * (a - b)
    direction = -r
    gd = float(mx.sum(g * direction))
    if gd >= 0:  # not a descent direction: drop history, fall back to gradient
        s_hist, y_hist = [], []
        direction = -g
        gd = float(mx.sum(g * direction))
    step, backtracks = 1.0, 0
    while True:
        cand = theta + step * direction
        new_loss, new_g = vg(cand, Xtr, Ytr)
        mx.eval(new_loss, new_g)
        if float(new_loss) <= float(loss) + 1e-4 * step * gd or backtracks >= 20:
            break
        step *= 0.5
        backtracks += 1
    s_new, y_new = cand - theta, new_g - g
    if float(mx.sum(s_new * y_new)) > 1e-10:
        s_hist.append(s_new)
        y_hist.append(y_new)
        if len(s_hist) > m_hist:
            s_hist.pop(0)
            y_hist.pop(0)
    theta, loss, g = cand, new_loss, new_g
    if it % 10 == 0 or it <= 3:
        sv = np.array(score(theta, Xva))
        print(f"{it:3d} | {float(loss):.5f} | {float(mx.sqrt(mx.sum(g * g))):.3e} | "
              f"{step:.2e} | {backtracks:10d} | {ndcg_at(sv, ava):10.3f} | {spearman(sv, ava):.3f}")

sv = np.array(score(theta, Xva))
# reference: an untrained all-zero scorer (ties every pair -> log 2)
fl = ranknet(mx.zeros((P,)), Xtr, Ytr)
print(f"done in {time.time() - t0:.1f}s  final train loss {float(loss):.4f} (all-zero scorer {float(fl):.4f})")
print(f"final val NDCG@5 {ndcg_at(sv, ava):.3f} vs random {base_rand:.3f} / w/kg-only {base_wkg:.3f}; "
      f"spearman {spearman(sv, ava):.3f}")
