"""Variational inference with a stack of planar flows: fit q(z) to an unnormalised
'banana' density p~(z) by maximising the ELBO = E_q[log p~(z) - log q(z)] (reverse KL).
The ELBO is a LOWER bound on log Z, so it should RISE towards log Z (computed on a grid)."""
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)

def log_p_tilde(z):
    z1, z2 = z[:, 0], z[:, 1]
    return -0.5 * (z1 ** 2) / 4.0 - 0.5 * ((z2 - 0.5 * z1 ** 2 + 1.0) ** 2) / 0.25

# reference log Z by brute-force grid integration
g = mx.linspace(-8, 8, 801)
gx, gy = mx.meshgrid(g, g * 1.5 + 4.0)
grid = mx.stack([gx.reshape(-1), gy.reshape(-1)], axis=1)
cell = (16 / 800) * (24 / 800)
LOGZ = (mx.logsumexp(log_p_tilde(grid)) + math.log(cell)).item()

class Planar(nn.Module):
    def __init__(self):
        super().__init__()
        self.u = 0.1 * mx.random.normal((2,))
        self.w = 0.1 * mx.random.normal((2,))
        self.b = mx.zeros((1,))

    def __call__(self, z):
        wu = mx.sum(self.w * self.u)
        # enforce invertibility: u_hat with w . u_hat >= -1
        u_hat = self.u + (-1 + nn.softplus(wu) - wu) * self.w / (mx.sum(self.w ** 2) + 1e-8)
        a = z @ self.w + self.b
        h = mx.tanh(a)
        z_new = z + h[:, None] * u_hat[None, :]
        psi = (1 - h ** 2)[:, None] * self.w[None, :]
        logdet = mx.log(mx.abs(1 + psi @ u_hat) + 1e-8)
        return z_new, logdet

class Flow(nn.Module):
    def __init__(self, n=12):
        super().__init__()
        self.mu = mx.zeros((2,))
        self.log_sigma = mx.zeros((2,))
        self.layers = [Planar() for _ in range(n)]

    def sample_logq(self, n):
        eps = mx.random.normal((n, 2))
        z = self.mu + mx.exp(self.log_sigma) * eps
        logq = -0.5 * mx.sum(eps ** 2, axis=1) - mx.sum(self.log_sigma) - math.log(2 * math.pi)
        for f in self.layers:
            z, ld = f(z)
            logq = logq - ld
        return z, logq

flow = Flow()

def neg_elbo(model, n):
    z, logq = model.sample_logq(n)
    return -mx.mean(log_p_tilde(z) - logq)

opt = optim.RMSprop(learning_rate=2e-3)
vg = nn.value_and_grad(flow, neg_elbo)
print(f"target: log Z (grid) = {LOGZ:+.4f}   -- ELBO should climb towards it from below")
hist = []
for it in range(1, 3001):
    loss, grads = vg(flow, 128)
    opt.update(flow, grads)
    mx.eval(flow.parameters(), opt.state, loss)
    hist.append(-loss.item())
    if it % 300 == 0:
        big = -neg_elbo(flow, 8192).item()
        print(f"it={it:5d}  ELBO(batch avg)={sum(hist)/len(hist):+.4f}  ELBO(8k)={big:+.4f}  "
              f"gap to logZ={LOGZ-big:.4f} nats  (higher ELBO is better)")
        hist = []
