# Bell foundry QA: which of 8 bells in a ring produced a strike, from 12 partial
# amplitudes (hum, prime, tierce, quint, nominal, ...). First an LR range test
# (lr grows x1.08 per step until the loss blows up - by design), then the real
# run from FRESH weights at a tenth of the best sweep lr. Loss in bits/strike.
import math, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_BELLS, N_PART = 8, 12
proto = rng.normal(0, 1, (N_BELLS, N_PART))
def strikes(n):
    b = rng.integers(0, N_BELLS, n)
    force = rng.uniform(0.5, 1.5, (n, 1))
    x = proto[b] * force + rng.normal(0, 0.9, (n, N_PART))
    return x.astype(np.float32), b.astype(np.int32)
Xtr, Ytr = strikes(16000)
Xte, Yte = strikes(2000)

def build(seed):
    mx.random.seed(seed)
    m = nn.Sequential(nn.Linear(N_PART, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, N_BELLS))
    mx.eval(m.parameters())
    return m

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def batches(bs, epoch_rng):
    p = epoch_rng.permutation(len(Xtr))
    for i in range(0, len(p) - bs + 1, bs):
        j = p[i:i + bs]
        yield mx.array(Xtr[j]), mx.array(Ytr[j])

BITS = 1.0 / math.log(2.0)

# ---- phase 1: LR range test -------------------------------------------------
model = build(0)
opt = optim.SGD(learning_rate=1e-4, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, loss_fn)
lr, best, best_lr, sweep = 1e-4, float("inf"), None, []
for step, (x, y) in enumerate(batches(64, np.random.default_rng(1))):
    opt.learning_rate = lr
    loss, g = vg(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    l = loss.item()
    sweep.append((lr, l))
    if l < best:
        best, best_lr = l, lr
    if not math.isfinite(l) or l > 4 * best:
        break
    lr *= 1.08
print("lr sweep: %d steps, lr 1e-4 -> %.3g, min loss %.3f bits at lr %.3g, last loss %s bits"
      % (len(sweep), sweep[-1][0], best * BITS, best_lr, "%.2f" % (sweep[-1][1] * BITS)))
for lr_i, l_i in sweep[:: max(1, len(sweep) // 8)]:
    print("  lr=%-9.3g loss=%.3f bits" % (lr_i, l_i * BITS))
del model, opt, vg

# ---- phase 2: real training from fresh weights ------------------------------
lr_use = best_lr / 10
model = build(1)
opt = optim.SGD(learning_rate=lr_use, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, loss_fn)
x0, y0 = mx.array(Xtr[:64]), mx.array(Ytr[:64])
_, g0 = vg(model, x0, y0)
zero = [k for k, v in tree_flatten(g0) if mx.all(v == 0).item()]
print("training at lr %.3g (sweep best / 10); %d grad leaves, zero-grad leaves: %s"
      % (lr_use, len(tree_flatten(g0)), zero if zero else "none"))
print("chance = %.3f bits/strike" % math.log2(N_BELLS))
print("\t".join(["epoch", "train_bits", "test_bits", "test_acc_pct", "secs"]))
t0 = time.perf_counter()
xte, yte = mx.array(Xte), mx.array(Yte)
erng = np.random.default_rng(2)
for ep in range(1, 13):
    run, k = 0.0, 0
    nb = len(Xtr) // 64
    for x, y in batches(64, erng):
        loss, g = vg(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item(); k += 1
        if k % 25 == 0:
            sys.stdout.write("\r  [%-30s] %d/%d" % ("#" * (30 * k // nb), k, nb)); sys.stdout.flush()
    sys.stdout.write("\r" + " " * 50 + "\r")
    logits = model(xte)
    tb = loss_fn(model, xte, yte).item() * BITS
    acc = (mx.argmax(logits, axis=1) == yte).astype(mx.float32).mean().item() * 100
    print("\t".join([str(ep), "%.4f" % (run / k * BITS), "%.4f" % tb, "%.2f" % acc, "%.1f" % (time.perf_counter() - t0)]))
