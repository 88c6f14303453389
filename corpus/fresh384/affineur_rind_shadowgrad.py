# Cheese-cave affinage: 4-way rind grade (bloomy-clean / patchy / sticky /
# cracked) of a wheel at 6 weeks from nine cave-log readings.
# Float32 master weights, float16 working copy, one constant loss scale picked
# by a probe before training; an fp32 shadow gradient is compared now and then.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

t0 = time.time()
rng = np.random.default_rng(23)
GRADES = ["clean", "patchy", "sticky", "cracked"]


def make(n):
    rh = rng.uniform(82, 99, n)
    temp = rng.normal(11.5, 1.6, n)
    turns = rng.poisson(3.0, n).astype(np.float64)
    brine = rng.uniform(14, 24, n)
    age = rng.uniform(28, 56, n)
    spray = rng.integers(0, 2, n).astype(np.float64)
    air = rng.gamma(2.0, 0.08, n)
    nh3 = rng.lognormal(1.2, 0.5, n)
    shelf = rng.normal(0, 1, n)  # shelf position code, no effect
    wet = (rh - 92) / 3 - 2.2 * air / 0.16 + 0.3 * (temp - 11.5) - 0.25 * (turns - 3)
    dry = -wet * 0.7 + 0.5 * (brine - 19) / 3 + 0.4 * (age - 42) / 8
    mould = 1.2 * (1 - spray) * np.tanh(rh - 90) + 0.15 * nh3 - 0.6 * spray
    logits = np.stack([
        1.0 + 0.4 * spray - 0.4 * np.abs(wet),
        mould,
        1.3 * wet - 0.5,
        1.3 * dry - 0.7,
    ], 1)
    g = rng.gumbel(size=logits.shape) * 0.7
    y = np.argmax(logits + g, 1)
    x = np.stack([rh, temp, turns, brine, age, spray, air, nh3, shelf], 1)
    return x.astype(np.float32), y.astype(np.int32)


xtr, ytr = make(10000)
xte, yte = make(2000)
mu, sd = xtr.mean(0), xtr.std(0)
Xtr, Ytr = mx.array((xtr - mu) / sd), mx.array(ytr)
Xte, Yte = mx.array((xte - mu) / sd), mx.array(yte)
prior = np.bincount(ytr, minlength=4) / len(ytr)

mx.random.seed(3)
master = nn.Sequential(nn.Linear(9, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(),
                       nn.Linear(128, 4))
work = nn.Sequential(nn.Linear(9, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(),
                     nn.Linear(128, 4))
mx.eval(master.parameters())


def refresh_work():
    work.update(tree_map(lambda p: p.astype(mx.float16), master.parameters()))


def ce_scaled(model, x, y, s):
    logits = model(x.astype(model.layers[0].weight.dtype)).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean") * s


grad_work = nn.value_and_grad(work, ce_scaled)
grad_master = nn.value_and_grad(master, ce_scaled)


def flat(g):
    return mx.concatenate([v.astype(mx.float32).reshape(-1) for _, v in tree_flatten(g)])


def finite(g):
    return bool(mx.all(mx.isfinite(flat(g))).item())


# Probe: largest power of two that keeps the fp16 gradient finite, minus a margin.
refresh_work()
xb, yb = Xtr[:100], Ytr[:100]
ok_k = 0
probe = []
for k in range(0, 31, 3):
    _, g = grad_work(work, xb, yb, mx.array(2.0 ** k, mx.float16))
    fin = finite(g)
    probe.append(f"2^{k}:{'ok' if fin else 'inf'}")
    if fin:
        ok_k = k
    else:
        break
SCALE_K = max(ok_k - 4, 0)
SCALE = 2.0 ** SCALE_K
print("# cave=affinage-3 train=10000 test=2000 grades=" + "/".join(GRADES))
print("# class mix % " + " ".join(f"{p * 100:.1f}" for p in prior)
      + f"  majority_err_pct={100 * (1 - prior.max()):.1f}  prior_ce={-(prior * np.log(prior)).sum():.4f}")
print("# scale probe " + " ".join(probe) + f" -> constant scale 2^{SCALE_K}")

opt = optim.Adam(learning_rate=1.5e-3)
opt.init(master.trainable_parameters())


def shadow_audit(x, y):
    _, g16 = grad_work(work, x, y, mx.array(SCALE, mx.float16))
    _, g16u = grad_work(work, x, y, mx.array(1.0, mx.float16))
    _, g32 = grad_master(master, x, y, mx.array(1.0))
    a, b, c = flat(g16) / SCALE, flat(g16u), flat(g32)
    cos = float((a * c).sum() / (mx.linalg.norm(a) * mx.linalg.norm(c)))
    nz = c != 0
    under_s = float(mx.sum((a == 0) & nz) / mx.sum(nz)) * 100
    under_1 = float(mx.sum((b == 0) & nz) / mx.sum(nz)) * 100
    return cos, under_s, under_1


def evaluate():
    logits = master(Xte)
    ce = float(nn.losses.cross_entropy(logits, Yte, reduction="mean"))
    err = float(mx.mean(mx.argmax(logits, 1) != Yte)) * 100
    return ce, err


g_leaves = tree_flatten(grad_master(master, xb, yb, mx.array(1.0))[1])
print(f"# grad check leaves={len(g_leaves)} dtype={g_leaves[0][1].dtype} "
      f"zero={[k for k, v in g_leaves if float(mx.abs(v).max()) == 0]}  ln4={math.log(4):.4f}")
print("step\tepoch\ttrain_ce\ttest_ce\ttest_err_pct\tskipped\tcos_fp32\tunderflow_pct_scaled\tunderflow_pct_unscaled")
ce0, err0 = evaluate()
print(f"0\t0\tNA\t{ce0:.4f}\t{err0:.2f}\t0\tNA\tNA\tNA")

BS, EPOCHS = 100, 10
step = 0
skipped = 0
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(ytr))
    tot, cnt = 0.0, 0
    for i in range(0, len(perm), BS):
        ii = mx.array(perm[i:i + BS])
        x, y = Xtr[ii], Ytr[ii]
        refresh_work()
        loss_s, g = grad_work(work, x, y, mx.array(SCALE, mx.float16))
        g = tree_map(lambda v: v.astype(mx.float32) / SCALE, g)
        step += 1
        if not finite(g):
            skipped += 1
            continue
        opt.update(master, g)
        mx.eval(master.parameters(), opt.state, loss_s)
        tot += float(loss_s) / SCALE
        cnt += 1
        if step % 250 == 0:
            cos, us, u1 = shadow_audit(x, y)
            ce, err = evaluate()
            print(f"{step}\t{ep}\t{tot / cnt:.4f}\t{ce:.4f}\t{err:.2f}\t{skipped}\t{cos:.6f}\t{us:.2f}\t{u1:.2f}")

ce, err = evaluate()
pred = np.array(mx.argmax(master(Xte), 1))
rec = " ".join(f"{GRADES[c]}={100 * np.mean(pred[yte == c] == c):.1f}" for c in range(4))
print(f"# done steps={step} skipped={skipped} master_dtype={master.layers[0].weight.dtype} "
      f"work_dtype={work.layers[0].weight.dtype} test_err_pct={err:.2f} test_ce={ce:.4f} "
      f"recall_pct {rec} secs={time.time() - t0:.1f}")
