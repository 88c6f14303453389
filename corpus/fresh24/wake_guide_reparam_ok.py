# Amortised inference network for a linear-Gaussian latent model, trained with the
# reweighted wake-sleep "q-wake" objective (self-normalised importance weights).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
D_Z, D_X, K = 3, 8, 16
SIGMA_X, SIGMA_Q = 0.5, 0.6

# generative model p(z) = N(0, I), p(x|z) = N(A z, SIGMA_X^2 I); A is known
A = mx.random.normal((D_X, D_Z)) * 0.8

def sample_data(n):
    z = mx.random.normal((n, D_Z))
    return z @ A.T + SIGMA_X * mx.random.normal((n, D_X))

# exact posterior mean for checking the guide: (I + A^T A / s^2)^-1 A^T x / s^2
prec = mx.eye(D_Z) + (A.T @ A) / SIGMA_X**2
post_map = mx.linalg.inv(prec, stream=mx.cpu) @ A.T / SIGMA_X**2   # (D_Z, D_X)

def log_joint(x, z):                       # x (B,Dx), z (K,B,Dz)
    lp_z = -0.5 * mx.sum(z * z, axis=-1)
    r = x[None] - z @ A.T
    lp_x = -0.5 * mx.sum(r * r, axis=-1) / SIGMA_X**2
    return lp_z + lp_x

class Guide(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(D_X, D_Z)
    def __call__(self, x):
        return self.enc(x)                 # mean of q(z|x); fixed scale SIGMA_Q

def log_q(z, mu):
    d = (z - mu[None]) / SIGMA_Q
    return -0.5 * mx.sum(d * d, axis=-1)

def qwake_loss(guide, x, eps):
    mu = guide(x)
    z = mu[None] + SIGMA_Q * eps           # reparameterised samples from q
    z = mx.stop_gradient(z)                # wake phase: z is data drawn from q
    lw = log_joint(x, z) - log_q(z, mu)
    w = mx.stop_gradient(mx.softmax(lw, axis=0))
    return -mx.mean(mx.sum(w * log_q(z, mu), axis=0))

guide = Guide()
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(guide, qwake_loss)
x_val = sample_data(512)

t0 = time.time()
for it in range(1, 1501):
    x = sample_data(64)
    eps = mx.random.normal((K, 64, D_Z))
    loss, grads = step_fn(guide, x, eps)
    opt.update(guide, grads)
    mx.eval(guide.parameters(), opt.state, loss)
    if it % 100 == 0:
        err = mx.mean(mx.sum((guide(x_val) - x_val @ post_map.T) ** 2, axis=-1))
        print(f"wake {it:5d}  q-loss {loss.item():8.4f}  |mu - mu*|^2 {err.item():.4f}  ({time.time()-t0:.1f}s)")
print("done")
