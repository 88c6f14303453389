# surrogate for the loan-amortisation formula: log monthly payment from (principal, APR, term)
# output mimics wget so it sits next to the download logs in our CI dashboard
import math, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
def make(n):
    P = np.exp(rng.uniform(np.log(5e3), np.log(1.5e6), n))
    apr = rng.uniform(0.005, 0.12, n)
    years = rng.choice([5, 7, 10, 15, 20, 25, 30, 40], n).astype(np.float64)
    r, m = apr / 12, years * 12
    pay = P * r / (1 - (1 + r) ** -m)
    pay *= np.exp(rng.normal(0, 0.004, n))          # rounding / fee noise
    feats = np.stack([np.log(P), apr * 10, np.log(years), apr * years], 1)
    return feats.astype(np.float32), np.log(pay).astype(np.float32)[:, None]

Xtr, ytr = make(20000)
Xva, yva = make(3000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
norm = lambda x: (x - mu) / sd
Xtr_n, Xva_n = mx.array(norm(Xtr)), mx.array(norm(Xva))
ytr_n, yva_n = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)

class PaymentNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 64)
        self.hid = [nn.Linear(64, 64) for _ in range(2)]
        self.out = nn.Linear(64, 1)
        self.skip = nn.Linear(4, 1)                   # linear part of log-payment
    def __call__(self, x):
        h = nn.softplus(self.inp(x))
        for layer in self.hid:
            h = h + nn.softplus(layer(h))
        return self.out(h) + self.skip(x)

def log_cosh(pred, target):
    d = pred - target
    return mx.mean(mx.logaddexp(d, -d) - math.log(2.0))

mx.random.seed(5)
model = PaymentNet()
opt = optim.Adagrad(learning_rate=0.03)
vg = nn.value_and_grad(model, lambda m, x, y: log_cosh(m(x), y))

state = [model.state, opt.state]
@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = vg(model, x, y)
    opt.update(model, g)
    return loss

start = time.time()
print(f"--{time.strftime('%Y-%m-%d %H:%M:%S')}--  https://loans.internal/fit/payment.bin")
print("Resolving loans.internal (loans.internal)... 10.0.0.12")
print("Connecting to loans.internal (loans.internal)|10.0.0.12|:443... connected.")
_, g0 = vg(model, Xtr_n[:256], ytr_n[:256])
flat = tree_flatten(g0)
bad = [k for k, v in flat if not bool(mx.any(v != 0))]
print(f"HTTP request sent, awaiting response... 200 OK (grad leaves {len(flat)}, all-zero {len(bad)})")
base = float(mx.mean(mx.abs(yva_n)) * ysd)
print(f"Length: {len(Xtr)} rows (baseline mean-predictor |log err| {base:.4f}) [application/x-mlx]")
print("Saving to: 'payment.bin'\n")

bs, epochs = 128, 15
steps_per = len(Xtr) // bs
total = epochs * steps_per
done = 0
for ep in range(epochs):
    perm = mx.array(np.random.default_rng(100 + ep).permutation(len(Xtr)))
    run = 0.0
    for i in range(steps_per):
        idx = perm[i * bs:(i + 1) * bs]
        loss = step(Xtr_n[idx], ytr_n[idx])
        mx.eval(loss, model.state, opt.state)
        run += loss.item(); done += 1
    pv = model(Xva_n)
    rel = (mx.abs(mx.exp((pv - yva_n) * ysd) - 1)).astype(mx.float32)
    mean_rel, p99 = rel.mean().item() * 100, float(np.percentile(np.array(rel), 99)) * 100
    pct = 100 * done // total
    bar = ("=" * (pct * 40 // 100 - 1) + ">").ljust(40)
    el = time.time() - start
    print(f"payment.bin  {pct:3d}%[{bar}] ep {ep + 1:2d} train_logcosh {run / steps_per:.3e}  "
          f"val_mean_rel {mean_rel:.3f}%  val_p99_rel {p99:.3f}%  {done / el:6.1f} st/s  in {el:.1f}s")

el = time.time() - start
print(f"\n{time.strftime('%Y-%m-%d %H:%M:%S')} ({done / el:.1f} st/s) - 'payment.bin' saved [{done}/{total}]")
for P, apr, yrs in [(250000, 0.065, 30), (18000, 0.09, 5), (900000, 0.03, 15)]:
    r, m = apr / 12, yrs * 12
    true = P * r / (1 - (1 + r) ** -m)
    f = norm(np.array([[np.log(P), apr * 10, np.log(yrs), apr * yrs]], np.float32))
    pred = math.exp(model(mx.array(f)).item() * ysd + ymu)
    print(f"  check P={P} apr={apr} years={yrs}: model {pred:,.2f}  formula {true:,.2f}")
