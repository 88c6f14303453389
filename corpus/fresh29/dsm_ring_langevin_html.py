# Noise-conditional denoising score matching (NCSN-style) on a 6-mode ring,
# with annealed Langevin sampling as the quality check. Progress is printed as
# HTML table rows (the notebook this came from pasted them into a report).
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)

K, R, STD = 6, 2.0, 0.12
CENTERS = mx.array([[R * math.cos(2 * math.pi * k / K), R * math.sin(2 * math.pi * k / K)] for k in range(K)])
SIGMAS = mx.array([1.5 * (0.04 / 1.5) ** (i / 6) for i in range(7)])  # 1.5 -> 0.04, geometric


def sample_data(n):
    k = mx.random.randint(0, K, (n,))
    return CENTERS[k] + STD * mx.random.normal((n, 2))


class ScoreNet(nn.Module):
    def __init__(self, h=96):
        super().__init__()
        self.l1 = nn.Linear(3, h)
        self.l2 = nn.Linear(h, h)
        self.l3 = nn.Linear(h, h)
        self.out = nn.Linear(h, 2)

    def __call__(self, x, sigma):
        z = mx.concatenate([x, mx.log(sigma)[:, None]], axis=1)
        z = nn.silu(self.l1(z))
        z = nn.silu(self.l2(z)) + z
        z = nn.silu(self.l3(z)) + z
        return self.out(z) / sigma[:, None]  # s(x, sigma) ~ 1/sigma scaling


def dsm_loss(model, x):
    idx = mx.random.randint(0, SIGMAS.size, (x.shape[0],))
    sig = SIGMAS[idx]
    z = mx.random.normal(x.shape)
    s = model(x + sig[:, None] * z, sig)
    # sigma^2-weighted DSM: || sigma * s + z ||^2 / 2
    return 0.5 * mx.mean(mx.sum((sig[:, None] * s + z) ** 2, axis=1))


def langevin(model, n=512, steps=30, eps=0.08):
    x = 3.0 * mx.random.normal((n, 2))
    for sigma in SIGMAS.tolist():
        a = eps * sigma ** 2
        sig = mx.full((n,), sigma)
        for _ in range(steps):
            x = x + a * model(x, sig) + math.sqrt(2 * a) * mx.random.normal(x.shape)
        mx.eval(x)
    return x


def quality(x):
    d = mx.sqrt(mx.sum((x[:, None, :] - CENTERS[None]) ** 2, axis=2))
    near = mx.min(d, axis=1) < 3 * STD
    owner = mx.argmin(d, axis=1)
    counts = [int(mx.sum(near & (owner == k)).item()) for k in range(K)]
    return mx.mean(near).item(), sum(c >= 20 for c in counts), counts


model = ScoreNet()
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, dsm_loss)

# one-off sanity check: every parameter leaf receives a gradient
_, g0 = vg(model, sample_data(256))
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(f"<!-- grad check: {len(tree_flatten(g0)) - len(zero)}/{len(tree_flatten(g0))} leaves non-zero -->")

print("<table>")
print("<tr><th>step</th><th>dsm (window mean)</th><th>near-mode</th><th>modes</th><th>per-mode</th><th>s</th></tr>")
t0, window = time.time(), []
for step in range(1, 1201):
    loss, grads = vg(model, sample_data(256))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 300 == 0:
        frac, modes, counts = quality(langevin(model))
        print(f"<tr><td>{step}</td><td>{sum(window)/len(window):.4f}</td><td>{frac:.3f}</td>"
              f"<td>{modes}/{K}</td><td>{counts}</td><td>{time.time()-t0:.1f}</td></tr>")
        window = []
print("</table>")
