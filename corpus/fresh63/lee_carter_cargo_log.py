"""Lee-Carter mortality model fitted by Poisson maximum likelihood.

log m(x, t) = a_x + b_x * k_t ; deaths D ~ Poisson(E * m)
Synthetic population: 18 five-year age groups x 40 calendar years.
Output imitates `cargo` build/test lines.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
A, T = 18, 40
ages = np.arange(A) * 5 + 2.5
a_true = -9.5 + 0.085 * ages                         # Gompertz-ish log-rates
b_true = np.exp(-0.5 * ((ages - 35) / 25) ** 2)
b_true = b_true / b_true.sum()
k_true = np.cumsum(-1.1 + rng.normal(0, 0.9, T))
k_true = k_true - k_true.mean()
expo = rng.uniform(2e4, 2e5, size=(A, T))
m_true = np.exp(a_true[:, None] + b_true[:, None] * k_true[None, :])
deaths = rng.poisson(expo * m_true).astype(np.float32)

E = mx.array(expo.astype(np.float32))
D = mx.array(deaths)
logE = mx.log(E)
# saturated log-likelihood constant so the reported number is a deviance
with np.errstate(divide="ignore", invalid="ignore"):
    sat = np.where(deaths > 0, deaths * np.log(deaths) - deaths, 0.0).sum()
N = float(deaths.sum())


class LeeCarter(nn.Module):
    def __init__(self):
        super().__init__()
        crude = np.log((deaths.sum(1) + 0.5) / expo.sum(1)).astype(np.float32)
        self.a = mx.array(crude)
        self.beta = mx.zeros((A,))          # b = softmax(beta): sum b = 1
        self.kraw = mx.linspace(0.5, -0.5, T)  # k = 10 * (kraw - mean): sum k = 0; start from a falling trend

    def bk(self):
        b = mx.softmax(self.beta)
        k = 10.0 * (self.kraw - mx.mean(self.kraw))
        return b, k

    def __call__(self):
        b, k = self.bk()
        return self.a[:, None] + b[:, None] * k[None, :]


def loss_fn(model):
    eta = model() + logE
    return mx.sum(mx.exp(eta) - D * eta) / N


model = LeeCarter()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=optim.exponential_decay(0.05, 0.9998))
lg = nn.value_and_grad(model, loss_fn)

t0 = time.time()
print(f"   Compiling lee-carter v0.4.1 (ages={A}, years={T}, deaths={int(N)})")
_, g0 = lg(model)
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"    Checking gradients: {len(tree_flatten(g0))} leaves, zero={zero}")


def deviance(model):
    eta = model() + logE
    ll = mx.sum(D * eta - mx.exp(eta)).item()
    return 2.0 * (sat - ll) / (A * T)


print(f"     Running iter 0 deviance/cell={deviance(model):.3f}")
for it in range(1, 20001):
    loss, g = lg(model)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it in (1, 10, 100, 500, 1000) or it % 2500 == 0:
        print(f"     Running iter {it} loss={loss.item():.6f} deviance/cell={deviance(model):.3f} "
              f"lr={opt.learning_rate.item():.5f}")
el = time.time() - t0
b_fit, k_fit = (np.array(v) for v in model.bk())
print(f"    Finished fit in {el:.2f}s")
print(f"test result: ok. sum(b)={b_fit.sum():.4f} mean(k)={k_fit.mean():.4f}")
print(f"test corr(k_fit, k_true) ... {np.corrcoef(k_fit, k_true)[0, 1]:.4f}")
print(f"test max|b_fit-b_true| ... {np.abs(b_fit - b_true).max():.4f}")
print(f"test drift k per year: fit={np.diff(k_fit).mean():.3f} true={np.diff(k_true).mean():.3f}")
