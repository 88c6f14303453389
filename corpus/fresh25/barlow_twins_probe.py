# Barlow Twins self-supervised pre-training on synthetic tabular data,
# evaluated by a closed-form ridge linear probe on the frozen encoder features.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(21)
mx.random.seed(21)
D, K, EMB, PROJ = 24, 5, 32, 64
LAMBDA, BS, STEPS = 5e-3, 256, 400

# latent classes live on a 6-dim subspace; a 12-dim "nuisance" subspace
# (think lighting / sensor gain) carries large class-independent variation
Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
basis, nbasis = Q[:, :6].T, Q[:, 6:18].T
protos = rng.normal(size=(K, 6)) * 1.0


def make(n):
    y = rng.integers(0, K, n)
    z = protos[y] + 0.7 * rng.normal(size=(n, 6))
    x = z @ basis + 3.0 * rng.normal(size=(n, 12)) @ nbasis + 0.2 * rng.normal(size=(n, D))
    return x.astype(np.float32), y


x_pool, _ = make(20000)                       # unlabeled pool
x_lab, y_lab = make(50)                       # tiny labeled set for the probe
x_val, y_val = make(2000)
X_pool = mx.array(x_pool)


NB = mx.array(nbasis.astype(np.float32))


def augment(x):
    # re-jitter the nuisance factors, plus gain and a little sensor noise
    jitter = 3.0 * mx.random.normal((x.shape[0], 12)) @ NB
    scale = mx.random.uniform(0.9, 1.1, (x.shape[0], 1))
    return (x + jitter) * scale + 0.1 * mx.random.normal(x.shape)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(), nn.Linear(128, EMB), nn.GELU())

    def __call__(self, x):
        return self.net(x)


class BarlowTwins(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        # biases before a batch-norm / the standardized output would be dead weight
        self.projector = nn.Sequential(nn.Linear(EMB, 128, bias=False), nn.BatchNorm(128), nn.ReLU(),
                                       nn.Linear(128, PROJ, bias=False))

    def __call__(self, x):
        return self.projector(self.encoder(x))


def standardize(z):
    return (z - z.mean(axis=0)) / (z.std(axis=0) + 1e-5)


def bt_loss(model, x1, x2):
    z1, z2 = standardize(model(x1)), standardize(model(x2))
    c = (z1.T @ z2) / z1.shape[0]
    on = ((1 - mx.diagonal(c)) ** 2).sum()
    off = (c ** 2).sum() - (mx.diagonal(c) ** 2).sum()
    return on + LAMBDA * off, (on, off)


def probe_accuracy(model):
    model.eval()
    f_lab = np.array(model.encoder(mx.array(x_lab)))
    f_val = np.array(model.encoder(mx.array(x_val)))
    model.train()
    mu, sd = f_lab.mean(0), f_lab.std(0) + 1e-6
    A = np.c_[(f_lab - mu) / sd, np.ones(len(f_lab))]
    B = np.c_[(f_val - mu) / sd, np.ones(len(f_val))]
    W = np.linalg.solve(A.T @ A + 1.0 * np.eye(A.shape[1]), A.T @ np.eye(K)[y_lab])
    return float(((B @ W).argmax(1) == y_val).mean())


model = BarlowTwins()
sched = optim.cosine_decay(2e-3, STEPS, 1e-5)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, bt_loss)

t0 = time.time()
print(f"⟨init⟩ probe={probe_accuracy(model):.3f}")
for step in range(1, STEPS + 1):
    idx = mx.random.randint(0, X_pool.shape[0], (BS,))
    x = X_pool[idx]
    (loss, (on, off)), grads = vg(model, augment(x), augment(x))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 40 == 0:
        print(f"⟨step {step:04d}⟩ bt={loss.item():7.3f}  on={on.item():6.3f}  "
              f"off={off.item():8.2f}  probe={probe_accuracy(model):.3f}  t={time.time() - t0:5.1f}s")
