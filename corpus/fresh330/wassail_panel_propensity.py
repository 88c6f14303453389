"""Wassail tasting panel: which cider apples will each taster rate well?

Tasters only score the varieties they choose to try, and they mostly try the
ones they expect to like, so the logged scores are missing-not-at-random.
A small panel session where tasters were handed random varieties gives an
unbiased test set.  We fit two biased matrix factorisation models with the
same seed: one on the plain logged scores, one with inverse-propensity
weights (Naive Bayes propensities, Schnabel et al. 2016).  Both use a
hand-written lazy row-wise Adagrad that touches only the rows present in the
batch, as large embedding tables are usually trained.
"""
import time

import numpy as np
import mlx.core as mx

rng = np.random.default_rng(7)
N_TASTERS, N_APPLES, K_TRUE, DIM = 320, 140, 3, 8

# ----- synthetic panel ------------------------------------------------------
tu = rng.normal(0, 1, (N_TASTERS, K_TRUE))
ta = rng.normal(0, 1, (N_APPLES, K_TRUE))
ab = rng.normal(0, 0.5, N_APPLES)
raw = tu @ ta.T / np.sqrt(K_TRUE) + ab[None, :]
true_score = np.clip(np.rint(3.0 + 1.1 * raw), 1, 5).astype(np.int32)

# tasters pick what they expect to enjoy: observation rate rises with score
obs_rate = np.array([0.0, 0.015, 0.025, 0.05, 0.16, 0.34])
observed = rng.random(true_score.shape) < obs_rate[true_score]
# the newest tasters joined after the log was exported: no logged scores
late_joiners = np.arange(N_TASTERS - 12, N_TASTERS)
observed[late_joiners, :] = False
tr_u, tr_a = np.nonzero(observed)
tr_r = true_score[tr_u, tr_a].astype(np.float32)

# random-assignment session: 6 varieties per taster, split calibration / test
def random_session(n_per):
    us, as_ = [], []
    for u in range(N_TASTERS):
        items = rng.choice(N_APPLES, n_per, replace=False)
        us.extend([u] * n_per)
        as_.extend(items.tolist())
    us, as_ = np.array(us), np.array(as_)
    return us, as_, true_score[us, as_].astype(np.float32)

cal_u, cal_a, cal_r = random_session(2)
te_u, te_a, te_r = random_session(6)

# Naive Bayes propensity: P(O=1 | r) = P(r | O=1) P(O=1) / P(r)
p_obs = observed.sum() / observed.size
p_r_given_o = np.array([(tr_r == s).mean() for s in range(1, 6)])
p_r = np.array([(cal_r == s).mean() for s in range(1, 6)]) + 1e-3
prop = p_r_given_o * p_obs / p_r
w = 1.0 / prop[(tr_r - 1).astype(np.int64)]
w = (w / w.mean()).astype(np.float32)

print(f"panel: {N_TASTERS} tasters x {N_APPLES} varieties, logged scores {len(tr_r)} "
      f"({100 * observed.mean():.1f}% of the grid), random-session test {len(te_r)}")
print("score histogram logged :", np.bincount(tr_r.astype(int), minlength=6)[1:].tolist())
print("score histogram random :", np.bincount(te_r.astype(int), minlength=6)[1:].tolist())
print("estimated propensities :", " ".join(f"{p:.3f}" for p in prop))


# ----- model with lazy row-wise Adagrad -------------------------------------
class LazyMF:
    def __init__(self, seed, mu, lr=0.05, l2=0.15, eps=1e-8):
        r = np.random.default_rng(seed)
        self.P = mx.array(r.normal(0, 0.1, (N_TASTERS, DIM)).astype(np.float32))
        self.Q = mx.array(r.normal(0, 0.1, (N_APPLES, DIM)).astype(np.float32))
        self.bu = mx.zeros((N_TASTERS, 1))
        self.ba = mx.zeros((N_APPLES, 1))
        self.mu = mu
        # one accumulator per row (row-wise Adagrad), not per coordinate
        self.acc = {k: mx.zeros((n, 1)) for k, n in
                    (("P", N_TASTERS), ("Q", N_APPLES), ("bu", N_TASTERS), ("ba", N_APPLES))}
        self.lr, self.l2, self.eps = lr, l2, eps

        def loss_fn(rows, ui, ai, r, wt):
            pred = (self.mu + rows["bu"][ui, 0] + rows["ba"][ai, 0]
                    + (rows["P"][ui] * rows["Q"][ai]).sum(-1))
            fit = (wt * (pred - r) ** 2).mean()
            reg = self.l2 * ((rows["P"] ** 2).sum() + (rows["Q"] ** 2).sum()) / r.shape[0]
            return fit + reg, fit

        self.vg = mx.value_and_grad(loss_fn, argnums=0)

    def predict(self, u, a):
        u, a = mx.array(u), mx.array(a)
        return self.mu + self.bu[u, 0] + self.ba[a, 0] + (self.P[u] * self.Q[a]).sum(-1)

    def step(self, u, a, r, wt):
        uu, ui = np.unique(u, return_inverse=True)
        aa, ai = np.unique(a, return_inverse=True)
        uu_m, aa_m = mx.array(uu), mx.array(aa)
        rows = {"P": self.P[uu_m], "Q": self.Q[aa_m], "bu": self.bu[uu_m], "ba": self.ba[aa_m]}
        (loss, fit), g = self.vg(rows, mx.array(ui), mx.array(ai), mx.array(r), mx.array(wt))
        for name, idx in (("P", uu_m), ("bu", uu_m), ("Q", aa_m), ("ba", aa_m)):
            gn = g[name]
            acc_rows = self.acc[name][idx] + (gn ** 2).mean(-1, keepdims=True)
            self.acc[name][idx] = acc_rows
            table = getattr(self, name)
            table[idx] = rows[name] - self.lr * gn / (mx.sqrt(acc_rows) + self.eps)
        return fit

    def arrays(self):
        return [self.P, self.Q, self.bu, self.ba] + list(self.acc.values())


def rmse(m, u, a, r):
    return float(mx.sqrt(((m.predict(u, a) - mx.array(r)) ** 2).mean()).item())


naive = LazyMF(seed=11, mu=float(tr_r.mean()))
ips = LazyMF(seed=11, mu=float((w * tr_r).sum() / w.sum()))
p0_naive = np.array(naive.P)

mean_logged = float(tr_r.mean())
mean_cal = float(cal_r.mean())
print(f"baseline rmse on random session: logged-mean {np.sqrt(((te_r - mean_logged) ** 2).mean()):.3f}"
      f" | calibration-mean {np.sqrt(((te_r - mean_cal) ** 2).mean()):.3f}")

EPOCHS, BATCH = 30, 256
ones = np.ones_like(w)
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(tr_r))
    fn, fi, nb = 0.0, 0.0, 0
    for s in range(0, len(perm), BATCH):
        b = perm[s:s + BATCH]
        l1 = naive.step(tr_u[b], tr_a[b], tr_r[b], ones[b])
        l2 = ips.step(tr_u[b], tr_a[b], tr_r[b], w[b])
        mx.eval(l1, l2, *naive.arrays(), *ips.arrays())
        fn += l1.item(); fi += l2.item(); nb += 1
    if ep == 1 or ep % 3 == 0:
        print(f"epoch {ep:2d}  train mse naive {fn / nb:.3f}  ips-weighted {fi / nb:.3f}  |  "
              f"random-session rmse naive {rmse(naive, te_u, te_a, te_r):.3f}  "
              f"ips {rmse(ips, te_u, te_a, te_r):.3f}")

late = mx.array(late_joiners)
moved_late = float(mx.abs(naive.P[late] - mx.array(p0_naive[late_joiners])).max().item())
moved_all = float(mx.abs(naive.P - mx.array(p0_naive)).max().item())
print(f"late joiners' rows max change {moved_late:.2e} (never in a batch), whole table {moved_all:.3f}")
print(f"final random-session rmse: naive {rmse(naive, te_u, te_a, te_r):.3f}  "
      f"ips {rmse(ips, te_u, te_a, te_r):.3f}  (logged-mean baseline "
      f"{np.sqrt(((te_r - mean_logged) ** 2).mean()):.3f})  time {time.time() - t0:.1f}s")
