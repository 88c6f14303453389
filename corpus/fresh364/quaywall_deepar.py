import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
T, CTX = 96, 72  # series length, conditioning range; last 24 points are forecast


def make(n):
    t = np.arange(T)[None, :]
    level = rng.uniform(5, 60, (n, 1))
    s = level * (1 + 0.3 * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 6.3, (n, 1))))
    return (s + rng.normal(0, 0.02, (n, T)) * level).astype(np.float32)


tr, te = make(600), make(120)
TR, TE = mx.array(tr), mx.array(te)


class DeepARLite(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.GRU(1, hidden)
        self.mu = nn.Linear(hidden, 1)
        self.sig = nn.Linear(hidden, 1)

    def __call__(self, z):
        scale = mx.mean(z[:, :CTX], axis=1, keepdims=True) + 1.0
        x = (z / scale)[..., None]
        h = self.rnn(x[:, :-1])
        mu = self.mu(h)[..., 0]
        sigma = nn.softplus(self.sig(h)[..., 0]) + 1e-3
        return mu, sigma, z[:, 1:] / scale, scale


def nll(model, z):
    mu, sigma, tgt, _ = model(z)
    return mx.mean(0.5 * ((tgt - mu) / sigma) ** 2 + mx.log(sigma) + 0.9189385)


def eval_metrics(model, z):
    mu, sigma, tgt, scale = model(z)
    err = mx.abs(mu[:, CTX - 1:] - tgt[:, CTX - 1:]) * scale
    cover = mx.mean((mx.abs(tgt - mu) < 1.2816 * sigma)[:, CTX - 1:].astype(mx.float32))
    return nll(model, z).item(), mx.mean(err).item(), cover.item()


def train(model, opt, epochs, first):
    vg = nn.value_and_grad(model, nll)
    for ep in range(first, first + epochs):
        perm = rng.permutation(len(tr))
        tot = 0.0
        for i in range(0, len(perm), 50):
            loss, g = vg(model, TR[mx.array(perm[i:i + 50])])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        v, mae, cov = eval_metrics(model, TE)
        print(f"epoch {ep:2d}  train NLL {tot / 12:+.3f}  test NLL {v:+.3f}  one-step MAE {mae:.3f}  80% band hit {cov:.2f}")


naive_mae = float(np.mean(np.abs(te[:, CTX:] - te[:, CTX - 1:-1])))
print(f"series train={len(tr)} test={len(te)}; last-value baseline one-step MAE {naive_mae:.3f}")
mx.random.seed(3)
model = DeepARLite()
opt = optim.Adam(learning_rate=5e-3)
mx.eval(model.parameters())
print("untrained: test NLL %+.3f  MAE %.3f  band %.2f" % eval_metrics(model, TE))
train(model, opt, 6, 1)
with tempfile.TemporaryDirectory() as d:
    mx.save_safetensors(os.path.join(d, "w.safetensors"), dict(tree_flatten(model.parameters())))
    mx.save_safetensors(os.path.join(d, "o.safetensors"), dict(tree_flatten(opt.state)))
    before = model(TE)[0]
    del model, opt
    mx.random.seed(99)
    model = DeepARLite()
    opt = optim.Adam(learning_rate=5e-3)
    opt.init(model.trainable_parameters())
    model.load_weights(os.path.join(d, "w.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "o.safetensors")).items()))
    print(f"resumed: prediction drift {mx.max(mx.abs(model(TE)[0] - before)).item():.2e}, adam step {opt.state['step'].item()}")
train(model, opt, 6, 7)
v, mae, cov = eval_metrics(model, TE)
print(f"final: one-step MAE {mae:.3f} vs last-value {naive_mae:.3f}; 80% band hit {cov:.2f}")
