# Tweedie (p=1.5) GLM-style MLP with log link on zero-heavy insurance-like losses.
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
P = 1.5


def simulate(n):
    x = mx.random.normal((n, 5))
    mu = mx.exp(0.3 + 0.6 * x[:, 0] - 0.4 * x[:, 1] + 0.3 * x[:, 2] * x[:, 3])
    # compound Poisson-gamma: N ~ Poisson(lam), each claim Gamma(shape 2)
    lam = mu / 2.0
    u = mx.random.uniform(shape=(n, 12))
    # Poisson via sum of exponential arrivals up to time lam
    arr = mx.cumsum(-mx.log(u), axis=1)
    counts = mx.sum((arr < lam[:, None]).astype(mx.float32), axis=1)
    g = -mx.log(mx.random.uniform(shape=(n, 12))) - mx.log(mx.random.uniform(shape=(n, 12)))
    mask = mx.arange(12)[None, :] < counts[:, None]
    y = mx.sum(mx.where(mask, g, 0.0), axis=1)
    return x, y


Xtr, Ytr = simulate(6000)
Xva, Yva = simulate(2000)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)  # log mu


def tweedie_nll(model, x, y):
    eta = model(x)
    return mx.mean(-y * mx.exp((1 - P) * eta) / (1 - P) + mx.exp((2 - P) * eta) / (2 - P))


def deviance(mu, y):
    t1 = mx.power(mx.maximum(y, 0.0), 2 - P) / ((1 - P) * (2 - P))
    return mx.mean(2 * (t1 - y * mx.power(mu, 1 - P) / (1 - P) + mx.power(mu, 2 - P) / (2 - P)))


model = Net()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, tweedie_nll)
const_mu = mx.full(Yva.shape, mx.mean(Ytr).item())
print(f"zero share {mx.mean((Ytr == 0).astype(mx.float32)).item():.3f}   constant-mean deviance {deviance(const_mu, Yva).item():.4f}")
print("| epoch | train nll | val deviance | mean pred | mean obs |")
print("|------:|----------:|-------------:|----------:|---------:|")
for epoch in range(1, 25):
    perm = mx.random.permutation(Xtr.shape[0])
    acc = 0.0
    for i in range(0, Xtr.shape[0], 200):
        b = perm[i:i + 200]
        loss, g = vg(model, Xtr[b], Ytr[b])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        acc += loss.item()
    if epoch % 3 == 0 or epoch == 1:
        mu = mx.exp(model(Xva))
        print(f"| {epoch:5d} | {acc / 30:9.4f} | {deviance(mu, Yva).item():12.4f} | {mx.mean(mu).item():9.3f} | {mx.mean(Yva).item():8.3f} |")
