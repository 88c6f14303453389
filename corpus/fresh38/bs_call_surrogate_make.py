# Learn a smooth surrogate of the Black-Scholes call price C/K(m, T, sigma, r) from
# noisy "quotes"; the log imitates GNU make output.
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
NOISE = 0.004


def ncdf(z):
    return 0.5 * (1.0 + mx.erf(z / math.sqrt(2.0)))


def sample(n):
    logm = mx.random.uniform(-0.4, 0.4, (n,))      # log(S/K)
    T = mx.random.uniform(0.05, 2.0, (n,))
    sig = mx.random.uniform(0.1, 0.6, (n,))
    r = mx.random.uniform(0.0, 0.06, (n,))
    sT = sig * mx.sqrt(T)
    d1 = (logm + (r + 0.5 * sig * sig) * T) / sT
    d2 = d1 - sT
    price = mx.exp(logm) * ncdf(d1) - mx.exp(-r * T) * ncdf(d2)   # C / K
    X = mx.stack([logm / 0.4, (T - 1.0) / 0.6, (sig - 0.35) / 0.15, (r - 0.03) / 0.02], axis=1)
    return X, price, price + NOISE * mx.random.normal((n,))


class Surrogate(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(4, 96), nn.Linear(96, 96), nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.l3(h).squeeze(-1)


model = Surrogate()
mx.eval(model.parameters())
STEPS = 1500
opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, STEPS, 1e-5))
loss_fn = lambda m, x, y: nn.losses.mse_loss(m(x), y)
vg = nn.value_and_grad(model, loss_fn)

Xv, clean_v, noisy_v = sample(4000)
x0, _, y0 = sample(256)
_, g0 = vg(model, x0, y0)
gchk = " ".join(f"{k}={mx.abs(v).max().item():.1e}" for k, v in tree_flatten(g0))
print(f"make: Entering directory '/bs/surrogate'   # grad-check {gchk}")
print(f"make: noise floor rmse={NOISE:.4f}, predict-mean rmse={mx.sqrt(((clean_v - clean_v.mean()) ** 2).mean()).item():.4f}")
t0 = time.time()
for step in range(1, STEPS + 1):
    x, _, y = sample(256)
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 20, 100) or step % 250 == 0:
        pred = model(Xv)
        rmse_clean = mx.sqrt(((pred - clean_v) ** 2).mean()).item()
        rmse_noisy = mx.sqrt(((pred - noisy_v) ** 2).mean()).item()
        print(f"  CC  price_step{step:04d}.o   batch_mse={loss.item():.3e} rmse_vs_quotes={rmse_noisy:.5f} "
              f"rmse_vs_formula={rmse_clean:.5f} lr={opt.learning_rate.item():.2e} [{time.time() - t0:.1f}s]")
print("  LD  surrogate.so")
print("make: Leaving directory '/bs/surrogate'")
