# System identification of a forced, damped Duffing oscillator:
#   x'' + delta*x' + alpha*x + beta*x^3 = gamma*cos(omega*t) + r(x)
# delta/alpha/beta/gamma are raw mx.array parameters, plus a tiny bounded residual MLP r(x).
# We regress noisy measured accelerations on (x, v, t). Progress lines look like ninja's "[k/N]".
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(3)
TRUE = dict(delta=0.3, alpha=-1.0, beta=1.0, gamma=0.5)
OMEGA = 1.2
DT = 0.01

def simulate(x0, v0, n):
    xs, vs, ts, acc = [], [], [], []
    x, v, t = x0, v0, 0.0
    for _ in range(n):
        a = (TRUE["gamma"] * math.cos(OMEGA * t) - TRUE["delta"] * v
             - TRUE["alpha"] * x - TRUE["beta"] * x ** 3)
        xs.append(x); vs.append(v); ts.append(t); acc.append(a)
        v += a * DT
        x += v * DT
        t += DT
    return xs, vs, ts, acc

X, V, T, A = [], [], [], []
for k in range(6):
    xs, vs, ts, acc = simulate(0.5 * (k - 2.5), 0.2 * k - 0.5, 1500)
    X += xs; V += vs; T += ts; A += acc
X, V, T, A = (mx.array(z) for z in (X, V, T, A))
NOISE = 0.15
A_obs = A + NOISE * mx.random.normal(A.shape)
n = X.shape[0]
perm = mx.random.permutation(n)
tr, va = perm[: int(0.85 * n)], perm[int(0.85 * n):]

class Duffing(nn.Module):
    def __init__(self):
        super().__init__()
        self.delta = mx.array(0.0)
        self.alpha = mx.array(0.0)
        self.beta = mx.array(0.0)
        self.gamma = mx.array(0.0)
        self.res = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    def __call__(self, x, v, t):
        r = 0.05 * mx.tanh(self.res(x[:, None])[:, 0])
        return (self.gamma * mx.cos(OMEGA * t) - self.delta * v
                - self.alpha * x - self.beta * x ** 3 + r)

model = Duffing()
opt = optim.Adam(learning_rate=0.02)

def loss_fn(m, x, v, t, a):
    return mx.mean((m(x, v, t) - a) ** 2)

vg = nn.value_and_grad(model, loss_fn)
_, g0 = vg(model, X[tr[:512]], V[tr[:512]], T[tr[:512]], A_obs[tr[:512]])
gm = {k: float(mx.max(mx.abs(g)).item()) for k, g in tree_flatten(g0)}
print("ninja: grad-leaf check:", " ".join(f"{k}={val:.2e}" for k, val in gm.items()))
print(f"ninja: noise floor mse ~ {NOISE**2:.4f}; true delta/alpha/beta/gamma = 0.30/-1.00/1.00/0.50")

STEPS, EVERY, B = 2400, 60, 256
total = STEPS // EVERY
t0 = time.time()
for step in range(1, STEPS + 1):
    idx = tr[mx.random.randint(0, tr.shape[0], (B,))]
    loss, g = vg(model, X[idx], V[idx], T[idx], A_obs[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step % EVERY == 0:
        vl = loss_fn(model, X[va], V[va], T[va], A_obs[va]).item()
        k = step // EVERY
        print(f"[{k:>2}/{total}] FIT step {step} batch_mse={loss.item():.4f} val_mse={vl:.4f} "
              f"delta={model.delta.item():.3f} alpha={model.alpha.item():.3f} "
              f"beta={model.beta.item():.3f} gamma={model.gamma.item():.3f} ({time.time()-t0:.1f}s)")
print("ninja: build stopped: subcommand finished.")
