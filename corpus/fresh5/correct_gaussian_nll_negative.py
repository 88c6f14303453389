"""Heteroscedastic regression: the net predicts a mean and a log-variance and is trained
with the Gaussian negative log-likelihood. Once the predicted variance gets small the NLL
is negative - that is expected for a density on a continuous target."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(8)
N = 2048
x = mx.random.uniform(-3, 3, (N, 1))
noise_std = 0.01 + 0.05 * mx.abs(x)             # heteroscedastic noise
y = mx.sin(x) + noise_std * mx.random.normal((N, 1))
xv, yv = x[1792:], y[1792:]
x, y = x[:1792], y[:1792]


class MeanVar(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mu = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, inp):
        h = self.body(inp)
        return self.mu(h), self.logvar(h)


def nll(model, inp, tgt):
    mu, logvar = model(inp)
    return nn.losses.gaussian_nll_loss(mu, tgt, mx.exp(logvar), full=True, reduction="mean")


model = MeanVar()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
vg = nn.value_and_grad(model, nll)

print("| epoch | train nll | val nll | val rmse |")
print("|------:|----------:|--------:|---------:|")
for epoch in range(1, 31):
    perm = mx.random.permutation(x.shape[0])
    tot, nb = 0.0, 0
    for i in range(0, x.shape[0], 128):
        idx = perm[i:i + 128]
        loss, grads = vg(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    if epoch % 3 == 0 or epoch == 1:
        mu, _ = model(xv)
        rmse = mx.sqrt(mx.mean((mu - yv) ** 2)).item()
        print(f"| {epoch:5d} | {tot / nb:9.4f} | {nll(model, xv, yv).item():7.4f} | {rmse:8.4f} |")
