"""Sparse autoencoder on synthetic sparse-dictionary data. The L1 penalty weight is ramped
up from 0 over the first 60% of training, so the *total* objective rises for a long stretch
while the reconstruction error keeps falling and the codes become sparse. Intended."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(31)
D, K, N = 24, 48, 4096
atoms = mx.random.normal((K, D)) / (D ** 0.5)
mask = (mx.random.uniform(0, 1, (N, K)) < 0.06).astype(mx.float32)
codes = mask * mx.random.uniform(0.5, 2.0, (N, K))
X = codes @ atoms + 0.01 * mx.random.normal((N, D))
mx.eval(X)


class SAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(D, K)
        self.dec = nn.Linear(K, D)

    def __call__(self, x):
        z = nn.relu(self.enc(x))
        return self.dec(z), z


def objective(m, x, l1_w):
    xh, z = m(x)
    recon = mx.mean(mx.sum((xh - x) ** 2, axis=1))
    l1 = mx.mean(mx.sum(mx.abs(z), axis=1))
    return recon + l1_w * l1, (recon, l1)


model = SAE()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)
vg = nn.value_and_grad(model, lambda m, x, w: objective(m, x, w)[0])

STEPS, RAMP, L1_MAX = 1500, 900, 0.05
print(f"{'step':>5} | {'l1_w':>6} | {'total':>8} | {'recon':>8} | {'l1':>7} | {'active%':>7}")
for step in range(1, STEPS + 1):
    l1_w = L1_MAX * min(1.0, step / RAMP)
    idx = mx.random.randint(0, N, (256,))
    loss, grads = vg(model, X[idx], mx.array(l1_w))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 100 == 0:
        total, (recon, l1) = objective(model, X, mx.array(l1_w))
        active = mx.mean((model(X)[1] > 1e-6).astype(mx.float32)).item() * 100
        print(f"{step:5d} | {l1_w:6.4f} | {total.item():8.4f} | {recon.item():8.4f} | {l1.item():7.3f} | {active:7.1f}")
