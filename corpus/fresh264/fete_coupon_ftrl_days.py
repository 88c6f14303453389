"""Farmers'-market SMS coupon redemption, learned online with FTRL-proximal.

Every market day brings a stream of coupon impressions (shopper, stall, coupon
type, hour, weather plus two crossed fields). Features are hashed into one
weight table. The learner is a per-coordinate FTRL-proximal update written
with mlx arrays (z, n accumulators; L1 keeps most slots at exactly 0).
Quality is progressive validation: each minibatch is scored before the
learner sees its labels. From day 6 a new promotion changes how coupon types
are redeemed.
"""

import time

import numpy as np
import mlx.core as mx

SLOTS = 1 << 14
DAYS = 8
PER_DAY = 6000
MB = 100
ALPHA, BETA, L1, L2 = 0.08, 1.0, 1.5, 1.0

rng = np.random.default_rng(3)
N_SHOP, N_STALL, N_COUPON, N_HOUR, N_WX = 2500, 60, 8, 10, 3

shop_prop = rng.normal(0.0, 0.7, N_SHOP)
shop_seg = rng.integers(0, 4, N_SHOP)
stall_eff = rng.normal(0.0, 0.5, N_STALL)
stall_kind = rng.integers(0, 5, N_STALL)
coupon_eff = rng.normal(0.0, 0.6, N_COUPON)
coupon_eff_promo = coupon_eff.copy()
coupon_eff_promo[[1, 4, 6]] += np.array([1.3, -1.1, 0.9])
kind_coupon = rng.normal(0.0, 0.8, (5, N_COUPON)) * (rng.random((5, N_COUPON)) < 0.4)
seg_hour = rng.normal(0.0, 0.5, (4, N_HOUR))
wx_eff = np.array([0.0, -0.5, 0.3])


def true_logit(s, st, c, h, w, promo):
    ce = coupon_eff_promo if promo else coupon_eff
    return (-2.0 + shop_prop[s] + stall_eff[st] + ce[c] + kind_coupon[stall_kind[st], c]
            + seg_hour[shop_seg[s], h] + wx_eff[w])


def hashed(field, value):
    # constant multiplicative hash of (field, value) into the slot table
    x = (np.int64(field) * 1_000_003 + value.astype(np.int64) * 2_654_435_761) & 0xFFFFFFFF
    return ((x * 40_503) & 0xFFFFFFFF) % SLOTS


def day_stream(day):
    n = PER_DAY
    s = rng.integers(0, N_SHOP, n)
    st = rng.integers(0, N_STALL, n)
    c = rng.integers(0, N_COUPON, n)
    h = rng.integers(0, N_HOUR, n)
    w = np.full(n, rng.choice(N_WX, p=[0.5, 0.3, 0.2]))
    p = 1.0 / (1.0 + np.exp(-true_logit(s, st, c, h, w, day >= 6)))
    y = (rng.random(n) < p).astype(np.float32)
    cols = np.stack([
        np.zeros(n, dtype=np.int64),                 # bias slot
        hashed(1, s), hashed(2, st), hashed(3, c), hashed(4, h), hashed(5, w),
        hashed(6, st * 16 + c), hashed(7, shop_seg[s] * 16 + h),
    ], axis=1).astype(np.int32)
    return cols, y, p


def logloss(p, y):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def auc(score, y):
    order = np.argsort(score)
    r = np.empty(len(score))
    r[order] = np.arange(1, len(score) + 1)
    npos = y.sum()
    nneg = len(y) - npos
    return float((r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


z = mx.zeros((SLOTS,))
n_acc = mx.zeros((SLOTS,))


def weights(z, n_acc):
    w = -(z - mx.sign(z) * L1) / ((BETA + mx.sqrt(n_acc)) / ALPHA + L2)
    return mx.where(mx.abs(z) > L1, w, 0.0)


def batch_nll(w, idx, y):
    logit = w[idx].sum(axis=1)
    return (mx.logaddexp(0.0, logit) - y * logit).sum()


grad_w = mx.grad(batch_nll)


@mx.compile
def ftrl_step(z, n_acc, idx, y):
    w = weights(z, n_acc)
    p = mx.sigmoid(w[idx].sum(axis=1))
    g = grad_w(w, idx, y)
    sigma = (mx.sqrt(n_acc + g * g) - mx.sqrt(n_acc)) / ALPHA
    return z + g - sigma * w, n_acc + g * g, p


t0 = time.time()
seen_rate_num, seen_rate_den = 1.0, 10.0       # running CTR prior for the constant predictor
ever = np.zeros(SLOTS, dtype=bool)
print(f"FTRL-proximal  slots={SLOTS}  alpha={ALPHA} beta={BETA} l1={L1} l2={L2}  minibatch={MB}")
print("day  impressions  redeem%   pv_logloss  const_logloss  oracle_logloss   pv_auc  oracle_auc  "
      "nonzero_w  touched   secs")
for day in range(1, DAYS + 1):
    idx_np, y_np, p_true = day_stream(day)
    preds = np.zeros(PER_DAY, dtype=np.float32)
    const = np.zeros(PER_DAY, dtype=np.float32)
    for b in range(0, PER_DAY, MB):
        sl = slice(b, b + MB)
        const[sl] = seen_rate_num / seen_rate_den
        z, n_acc, p = ftrl_step(z, n_acc, mx.array(idx_np[sl]), mx.array(y_np[sl]))
        mx.eval(z, n_acc, p)
        preds[sl] = np.array(p)
        seen_rate_num += float(y_np[sl].sum())
        seen_rate_den += MB
    ever[np.unique(idx_np)] = True
    w_now = np.array(weights(z, n_acc))
    nz = int((w_now != 0).sum())
    print(f"{day:3d}  {PER_DAY:11d}  {100 * y_np.mean():7.2f}   {logloss(preds, y_np):10.4f}  "
          f"{logloss(const, y_np):13.4f}  {logloss(p_true, y_np):14.4f}   {auc(preds, y_np):6.4f}  "
          f"{auc(p_true, y_np):10.4f}  {nz:9d}  {int(ever.sum()):7d}  {time.time() - t0:5.1f}")

print(f"done: {DAYS * PER_DAY} impressions, {int((w_now != 0).sum())} of {SLOTS} weights nonzero "
      f"({100 * (w_now != 0).mean():.1f}%), max |w| {np.abs(w_now).max():.3f}")
