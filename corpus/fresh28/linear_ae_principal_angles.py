# Streaming PCA with an (untied) linear autoencoder: x -> W_enc x -> W_dec z.
# Data: 20-dim Gaussian with a planted 3-dim principal subspace (variances 9, 6, 4)
# plus isotropic noise of variance 0.5.  Progress = principal angles (degrees)
# between span(W_dec) and the true top-3 eigenvectors, and the reconstruction
# error against the best possible rank-3 error (sum of the trailing eigenvalues).
import math
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
D, K, N = 20, 3, 20000
Q, _ = mx.linalg.qr(mx.random.normal((D, D)), stream=mx.cpu)
top = Q[:, :K]
spec = mx.array([9.0, 6.0, 4.0])
X = (mx.random.normal((N, K)) * mx.sqrt(spec)) @ top.T + mx.random.normal((N, D)) * math.sqrt(0.5)
Xte = (mx.random.normal((4000, K)) * mx.sqrt(spec)) @ top.T + mx.random.normal((4000, D)) * math.sqrt(0.5)
best_err = (D - K) * 0.5          # per-sample squared error of the optimal rank-3 projection
mx.eval(X, Xte, top)


class LinearAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(D, K, bias=False)
        self.dec = nn.Linear(K, D, bias=False)

    def __call__(self, x):
        return self.dec(self.enc(x))


def recon(model, x):
    return ((model(x) - x) ** 2).sum(-1).mean()


def angles_deg(W):
    q, _ = mx.linalg.qr(W, stream=mx.cpu)                  # D x K orthonormal basis
    s = mx.linalg.svd(top.T @ q, compute_uv=False, stream=mx.cpu)
    s = mx.clip(s, -1.0, 1.0)
    return sorted((math.degrees(math.acos(v)) for v in s.tolist()), reverse=True)


model = LinearAE()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=2e-3, momentum=0.9)
vg = nn.value_and_grad(model, recon)

BATCH, STEPS = 64, 2500
w = sys.stdout.write
w("streaming PCA / linear autoencoder, k=3, d=20\n")
for step in range(1, STEPS + 1):
    idx = mx.random.randint(0, N, (BATCH,))
    loss, grads = vg(model, X[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step in (1, 50, 150) or step % 250 == 0:
        a = angles_deg(model.dec.weight)
        te = recon(model, Xte).item()
        w(f"step {step:5d} | batch {loss.item():7.3f} | test {te:7.3f} (floor {best_err:.2f}) "
          f"| angles° [{a[0]:6.2f} {a[1]:6.2f} {a[2]:6.2f}]\n")
w("done\n")
