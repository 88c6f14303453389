import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
K, D, N = 5, 2, 3000
true_c = rng.uniform(-6, 6, size=(K, D)).astype(np.float32)
lab = rng.integers(0, K, size=N)
pts = true_c[lab] + rng.normal(0, 0.6, size=(N, D)).astype(np.float32)
X = mx.array(pts)

class Centroids(nn.Module):
    def __init__(self, init):
        super().__init__()
        self.c = mx.array(init)
    def sqdist(self, x):
        return mx.sum((x[:, None, :] - self.c[None, :, :]) ** 2, axis=-1)

def soft_inertia(model, x, temp):
    d = model.sqdist(x)
    w = mx.stop_gradient(mx.softmax(-d / temp, axis=-1))
    return mx.mean(mx.sum(w * d, axis=-1))

def hard_inertia(c, x):
    d = np.sum((x[:, None, :] - c[None]) ** 2, axis=-1)
    return float(d.min(axis=1).mean()), d.argmin(axis=1)

def lloyd(init, x, iters=50):
    c = init.copy()
    for _ in range(iters):
        _, a = hard_inertia(c, x)
        for k in range(len(c)):
            if np.any(a == k):
                c[k] = x[a == k].mean(0)
    return c

init = pts[rng.choice(N, K, replace=False)].copy()
ref_inertia, _ = hard_inertia(lloyd(init, pts), pts)
print("epoch,temp,soft_inertia,hard_inertia,lloyd_ref,phase")
model = Centroids(init)
opt = optim.SGD(learning_rate=0.5, momentum=0.8)
loss_and_grad = nn.value_and_grad(model, soft_inertia)
ckpt = os.path.join(tempfile.mkdtemp(), "centroids.safetensors")
temps = np.geomspace(8.0, 0.05, 40)
t0 = time.time()
for ep, temp in enumerate(temps):
    if ep == 20:
        model.save_weights(ckpt)
        model = Centroids(np.zeros((K, D), np.float32))
        model.load_weights(ckpt)
        loss_and_grad = nn.value_and_grad(model, soft_inertia)
        phase = "resumed"
    else:
        phase = "anneal"
    perm = mx.array(rng.permutation(N))
    for i in range(0, N, 250):
        idx = perm[i:i + 250]
        loss, g = loss_and_grad(model, X[idx], float(temp))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    s = soft_inertia(model, X, float(temp)).item()
    h, _ = hard_inertia(np.array(model.c), pts)
    if ep % 4 == 0 or ep in (19, 20) or ep == len(temps) - 1:
        print(f"{ep},{temp:.3f},{s:.4f},{h:.4f},{ref_inertia:.4f},{phase}")
h, a = hard_inertia(np.array(model.c), pts)
print(f"final hard inertia {h:.4f} vs lloyd {ref_inertia:.4f}, {time.time()-t0:.1f}s")
