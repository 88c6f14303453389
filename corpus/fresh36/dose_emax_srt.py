# Sigmoid-Emax (Hill) dose-response fit with a covariate effect on potency.
# E = E0 + Emax * D^h / (ED50_i^h + D^h),  log ED50_i = log ED50 + w . x_i
# Progress is written as SubRip (.srt) subtitle blocks so the run can be
# overlaid on a screen recording of the lab dashboard.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
N = 900
TRUE = dict(e0=2.0, emax=10.0, ed50=3.0, hill=1.8)
w_true = mx.array([0.5, -0.3, 0.0])

dose = mx.exp(mx.random.uniform(math.log(0.05), math.log(100.0), (N,)))
cov = mx.random.normal((N, 3))
ed50_i = TRUE["ed50"] * mx.exp(cov @ w_true)
resp = TRUE["e0"] + TRUE["emax"] * dose ** TRUE["hill"] / (ed50_i ** TRUE["hill"] + dose ** TRUE["hill"])
resp = resp + 0.6 * mx.random.normal((N,))
perm = mx.random.permutation(N)
tr, va = perm[:700], perm[700:]


class Emax(nn.Module):
    def __init__(self):
        super().__init__()
        self.e0 = mx.array(0.0)
        self.log_emax = mx.array(math.log(5.0))
        self.log_ed50 = mx.array(0.0)
        self.log_hill = mx.array(0.0)
        self.potency = nn.Linear(3, 1, bias=False)   # covariate shift of log ED50

    def __call__(self, d, x):
        log_ed50 = self.log_ed50 + self.potency(x).squeeze(-1)
        h = mx.exp(self.log_hill)
        z = h * (mx.log(d) - log_ed50)
        return self.e0 + mx.exp(self.log_emax) * mx.sigmoid(z)


model = Emax()
mx.eval(model.parameters())


def mse(m, d, x, y):
    return mx.mean((m(d, x) - y) ** 2)


vg = nn.value_and_grad(model, mse)
_, g0 = vg(model, dose[tr], cov[tr], resp[tr])
from mlx.utils import tree_flatten
print("# grad check: " + ", ".join(f"{k}={mx.abs(v).max().item():.3g}" for k, v in tree_flatten(g0)))
print(f"# noise floor (true params): val mse = {0.36:.3f} (sd 0.6)\n")

opt = optim.Adam(learning_rate=optim.cosine_decay(0.05, 2500, 1e-3))
start = time.time()
block = 1


def stamp(t):
    ms = int(t * 1000)
    return f"{ms//3600000:02d}:{ms//60000%60:02d}:{ms//1000%60:02d},{ms%1000:03d}"


prev = 0.0
for step in range(2501):
    if step > 0:
        loss, grads = vg(model, dose[tr], cov[tr], resp[tr])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    if step in (0, 10, 50, 100, 250) or step % 500 == 0:
        now = time.time() - start
        v = mse(model, dose[va], cov[va], resp[va]).item()
        tr_l = mse(model, dose[tr], cov[tr], resp[tr]).item()
        print(block)
        print(f"{stamp(prev)} --> {stamp(max(now, prev + 0.001))}")
        print(f"step {step}  train_mse {tr_l:.4f}  val_mse {v:.4f}")
        print(f"ED50 {math.exp(model.log_ed50.item()):.3f} (3.0)  hill {math.exp(model.log_hill.item()):.3f} (1.8)  "
              f"Emax {math.exp(model.log_emax.item()):.2f} (10.0)  E0 {model.e0.item():.2f} (2.0)  "
              f"w {[round(a, 2) for a in model.potency.weight.reshape(-1).tolist()]} ([0.5, -0.3, 0.0])")
        print()
        prev = max(now, prev + 0.001)
        block += 1
