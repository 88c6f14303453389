# Ropewalk test bench: breaking load of hemp/nylon rope vs training-set size.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)


def ropes(n):
    dia = rng.uniform(8, 32, n)            # mm
    lay = rng.uniform(0.8, 1.3, n)         # lay length / diameter
    nylon = rng.uniform(0, 1, n)
    strands = rng.choice([3, 4, 8], n).astype(float)
    wet = rng.uniform(0, 1, n) < 0.3
    age = rng.uniform(0, 10, n)
    kn = (0.045 + 0.11 * nylon) * dia ** 2 * (1 - 0.25 * (lay - 1.05) ** 2) * (1 + 0.02 * strands) \
        * np.where(wet, 0.88, 1.0) * np.exp(-0.03 * age)
    kn = kn * rng.lognormal(0, 0.05, n)
    x = np.stack([dia, lay, nylon, strands, wet.astype(float), age], 1).astype(np.float32)
    return x, np.log(kn).astype(np.float32)


xall, yall = ropes(8000)
xte, yte = ropes(2000)
mu, sd = xall.mean(0), xall.std(0)
ym, ys = yall.mean(), yall.std()
norm = lambda x: mx.array((x - mu) / sd)
Xte, Yte = norm(xte), mx.array((yte - ym) / ys)


class RopeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 64)
        self.b = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.a(x))
        return self.out(h + nn.gelu(self.b(h)))[:, 0]


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def rmse_pct(model, x, ylog):
    pred = np.array(model(x)) * ys + ym
    return 100 * np.sqrt(np.mean((np.exp(pred - ylog) - 1) ** 2))


STEPS = 1500
ckdir = tempfile.mkdtemp()
print(f"bench: pool {len(yall)} test {len(yte)}  steps per size {STEPS}  lr warm-up 0 -> 3e-3 over 150 steps")
curve = []
t0 = time.time()
for n in [125, 500, 2000, 8000]:
    mx.random.seed(n)
    Xtr, Ytr = norm(xall[:n]), mx.array((yall[:n] - ym) / ys)
    model = RopeNet()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 150), optim.cosine_decay(3e-3, STEPS - 150, 3e-5)], [150])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    lg = nn.value_and_grad(model, mse)
    for s in range(STEPS):
        idx = mx.array(rng.integers(0, n, min(64, n)))
        loss, g = lg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
    tr, te = mse(model, Xtr, Ytr).item(), mse(model, Xte, Yte).item()
    err = rmse_pct(model, Xte, yte)
    curve.append((n, te))
    print(f"n={n:5d}  train_mse {tr:.5f}  test_mse {te:.5f}  gap x{te / max(tr, 1e-9):6.1f}  test error {err:5.2f}% of load  ({time.time() - t0:.1f}s)")
    model.save_weights(os.path.join(ckdir, f"rope_{n}.safetensors"))

# reload the largest run into a fresh net and score it again
fresh = RopeNet()
fresh.load_weights(os.path.join(ckdir, "rope_8000.safetensors"))
print(f"reloaded rope_8000: test_mse {mse(fresh, Xte, Yte).item():.5f}  error {rmse_pct(fresh, Xte, yte):.2f}%  (noise floor ~5.0%)")
ln = np.log([c[0] for c in curve]); le = np.log([c[1] for c in curve])
slope = np.polyfit(ln, le, 1)[0]
print(f"log-log slope of test_mse vs n: {slope:.2f}")
print("predict-the-mean test_mse: %.5f" % float(np.mean(((yte - ym) / ys) ** 2)))
