# Negative-binomial (NB2) count regression: tanh MLP log-mean + one learned log-dispersion
# (raw mx.array attribute); lgamma by shift-by-7 Stirling (MLX has none).  RMSprop.
# Reports are three-line "haiku" stanzas; rare prints.
import math, random, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

def lgamma(z):
    s = mx.zeros_like(z)
    for k in range(7):
        s = s + mx.log(z + k)
    w = z + 7
    return (w - 0.5) * mx.log(w) - w + 0.5 * math.log(2 * math.pi) + 1 / (12 * w) - 1 / (360 * w ** 3) - s

chk = float(mx.abs(lgamma(mx.array([0.3, 2.5, 11.0])) - mx.array([math.lgamma(0.3), math.lgamma(2.5), math.lgamma(11.0)])).max())

mx.random.seed(11); random.seed(11)
N, NV, R_TRUE = 5000, 1000, 2.5
def make(n):
    x = mx.random.normal((n, 4))
    lmu = 1.0 + 0.6 * x[:, 0] - 0.4 * mx.tanh(2 * x[:, 1]) + 0.3 * x[:, 2] * x[:, 3]
    mu = mx.exp(lmu)
    lam = mx.random.gamma if hasattr(mx.random, "gamma") else None
    import numpy as np
    rng = np.random.default_rng(n)
    lam = rng.gamma(R_TRUE, np.array(mu) / R_TRUE)
    y = mx.array(rng.poisson(lam).astype("float32"))
    return x, y, lmu
X, Y, LM = make(N); XV, YV, LMV = make(NV)

def nb_nll(lmu, logr, y):
    r = mx.exp(logr); mu = mx.exp(lmu)
    return -(lgamma(y + r) - lgamma(r) - lgamma(y + 1) + r * (logr - mx.logaddexp(logr, lmu)) + y * (lmu - mx.logaddexp(logr, lmu)))

class NB(nn.Module):
    def __init__(self):
        super().__init__()
        self.h1 = nn.Linear(4, 32); self.h2 = nn.Linear(32, 32); self.head = nn.Linear(32, 1)
        self.log_r = mx.array([0.0])
    def __call__(self, x):
        return self.head(mx.tanh(self.h2(mx.tanh(self.h1(x)))))[:, 0]

model = NB(); mx.eval(model.parameters())
def loss_fn(m, x, y):
    return nb_nll(m(x), m.log_r, y).mean()
vg = nn.value_and_grad(model, loss_fn)
opt = optim.RMSprop(learning_rate=2e-3)
_, g0 = vg(model, X[:200], Y[:200])
leaves = tree_flatten(g0)
oracle = float(nb_nll(LMV, mx.array([math.log(R_TRUE)]), YV).mean())
print(f"(prelude) lgamma err {chk:.1e}; {len(leaves)} leaves, zero-grad: {[k for k,v in leaves if float(mx.abs(v).max())==0] or 'none'}; oracle val NLL {oracle:.4f}")
t0 = time.time(); step = 0
for ep in range(1, 26):
    order = list(range(N)); random.shuffle(order); perm = mx.array(order)
    for i in range(0, N, 100):
        idx = perm[i:i + 100]
        loss, g = vg(model, X[idx], Y[idx]); opt.update(model, g); mx.eval(model.parameters(), opt.state, loss)
        step += 1
    if ep % 5 == 0 or ep == 1:
        v = float(nb_nll(model(XV), model.log_r, YV).mean())
        r = math.exp(float(model.log_r[0]))
        print(f"epoch {ep}, step {step}:")
        print(f"    batch nll {float(loss):.4f}, val {v:.4f}")
        print(f"    oracle gap {v - oracle:+.4f}; r {r:.2f} (true {R_TRUE}); {time.time()-t0:.1f}s")
        print()
print("autumn wind -- done")
