# Cobbler's bench: sole wear (mm per 100 km) from 6 shoe/walker readings.
# Heteroscedastic Gaussian NLL (can go below zero), Welford running mean/std of
# the per-batch NLL, checkpoint after epoch 4 and resume into a fresh model and
# optimizer, markdown table output, reports only on even epochs after the resume.
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
def make(n):
    X = rng.normal(size=(n, 6)).astype(np.float32)
    mu = 1.2 + 0.5 * X[:, 0] + 0.3 * np.tanh(2 * X[:, 1]) - 0.25 * X[:, 2] * X[:, 3]
    sd = 0.08 + 0.12 / (1 + np.exp(-2 * X[:, 4]))      # rougher ground, noisier wear
    y = mu + sd * rng.normal(size=n)
    return X, y.astype(np.float32), sd
Xtr, ytr, _ = make(8000)
Xva, yva, sdva = make(1500)
floor_nll = float(np.mean(0.5 * np.log(2 * np.pi * sdva ** 2) + 0.5))
const_nll = float(0.5 * np.log(2 * np.pi * ytr.var()) + 0.5)

class Last(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)
    def __call__(self, x):
        h = self.body(x)
        return self.mu(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -9.0, 4.0)

def nll(model, x, y):
    m, lv = model(x)
    return mx.mean(0.5 * (math.log(2 * math.pi) + lv + (y - m) ** 2 / mx.exp(lv)))

EPOCHS, BS = 12, 64
steps_per = len(ytr) // BS
sched = optim.cosine_decay(3e-3, EPOCHS * steps_per, 1e-4)
ck = tempfile.mkdtemp()

def build(seed):
    mx.random.seed(seed)
    m = Last(); mx.eval(m.parameters())
    return m, optim.AdamW(learning_rate=sched, weight_decay=1e-4)

def run_epochs(model, opt, first, last, report):
    vg = nn.value_and_grad(model, nll)
    Xv, yv = mx.array(Xva), mx.array(yva)
    for ep in range(first, last + 1):
        n, mean, m2 = 0, 0.0, 0.0
        perm = rng.permutation(len(ytr))
        for b in range(steps_per):
            idx = mx.array(perm[b * BS:(b + 1) * BS])
            l, g = vg(model, mx.array(Xtr)[idx], mx.array(ytr)[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, l)
            v = l.item(); n += 1; d = v - mean; mean += d / n; m2 += d * (v - mean)
        if report(ep):
            mu, lv = model(Xv)
            vn = nll(model, Xv, yv).item()
            mae = mx.mean(mx.abs(mu - yv)).item()
            cover = mx.mean(mx.abs(mu - yv) <= 1.645 * mx.exp(0.5 * lv)).item()
            print(f"| {ep:2d} | {int(opt.step.item()):5d} | {float(opt.learning_rate):.2e} | "
                  f"{mean:+.4f} | {math.sqrt(m2 / (n - 1)):.4f} | {vn:+.4f} | {floor_nll:+.4f} | "
                  f"{const_nll:+.4f} | {mae:.4f} | {100 * cover:5.1f} |")

print(f"data: train {len(ytr)} valid {len(yva)}; valid NLL floor {floor_nll:+.4f}, "
      f"constant-gaussian NLL {const_nll:+.4f} (lower is better, negative is fine)")
print("| ep | step | lr | train_nll_mean | train_nll_std | valid_nll | floor | const | mae_mm | cov90_% |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
t0 = time.time()
model, opt = build(0)
run_epochs(model, opt, 1, 4, lambda e: True)
model.save_weights(os.path.join(ck, "last.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
del model, opt
model, opt = build(99)
print(f"checkpoint written after epoch 4; fresh model valid NLL before load "
      f"{nll(model, mx.array(Xva), mx.array(yva)).item():+.4f}")
model.load_weights(os.path.join(ck, "last.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
print(f"restored: valid NLL {nll(model, mx.array(Xva), mx.array(yva)).item():+.4f}, "
      f"optimizer step {int(opt.step.item())}")
run_epochs(model, opt, 5, EPOCHS, lambda e: e % 2 == 0)
print(f"done in {time.time() - t0:.1f}s")
