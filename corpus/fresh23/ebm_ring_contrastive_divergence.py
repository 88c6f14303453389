"""Energy-based model on a 2-D ring, trained by contrastive divergence (MLX).

E_theta(x) is a small MLP.  Each step:
  * positives: a batch from the ring (radius 2, small radial noise)
  * negatives: persistent short-run Langevin chains on E_theta (20 steps),
    detached with mx.stop_gradient, 5% of chains re-initialised from uniform noise
  * loss = mean E(pos) - mean E(neg) + 0.1 * (mean E(pos)^2 + mean E(neg)^2)

The contrastive term hovers around zero and changes sign by design (it is a
difference of two energies, not a distance), so it is not a progress measure.
The quality check is how well the negative samples match the data: the mean
absolute error of their radius against 2.0 and the fraction of samples inside
the ring's band.  Progress goes to stdout as XML-like self-closing tags.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
R = 2.0
STEPS = 500
BATCH = 128
N_CHAINS = 512
LANGEVIN_STEPS = 20
STEP_SIZE = 0.05
NOISE = 0.05
ALPHA = 0.1


def sample_ring(n):
    theta = mx.random.uniform(0, 2 * math.pi, (n,))
    r = R + 0.08 * mx.random.normal((n,))
    return mx.stack([r * mx.cos(theta), r * mx.sin(theta)], axis=1)


class Energy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 96)
        self.l2 = nn.Linear(96, 96)
        self.l3 = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.l3(h).squeeze(-1)


model = Energy()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3, betas=[0.0, 0.999])


def energy_sum(x):
    return model(x).sum()


grad_x = mx.grad(energy_sum)


def langevin(x):
    for _ in range(LANGEVIN_STEPS):
        g = grad_x(x)
        x = x - STEP_SIZE * g + NOISE * mx.random.normal(x.shape)
        x = mx.clip(x, -4.0, 4.0)
    return x


def cd_loss(m, pos, neg):
    e_pos = m(pos)
    e_neg = m(neg)
    cd = e_pos.mean() - e_neg.mean()
    reg = ALPHA * ((e_pos ** 2).mean() + (e_neg ** 2).mean())
    return cd + reg, (cd, e_pos.mean(), e_neg.mean())


loss_and_grad = nn.value_and_grad(model, cd_loss)
buffer = mx.random.uniform(-4.0, 4.0, (N_CHAINS, 2))


def sample_quality(x):
    r = mx.sqrt((x ** 2).sum(axis=1))
    mae = mx.abs(r - R).mean().item()
    in_band = (mx.abs(r - R) < 0.3).astype(mx.float32).mean().item()
    return mae, in_band


print('<run model="ebm-mlp" data="ring r=2.0" chains="%d" langevin="%d"/>' % (N_CHAINS, LANGEVIN_STEPS))
t0 = time.time()
for step in range(1, STEPS + 1):
    idx = mx.random.randint(0, N_CHAINS, (BATCH,))
    start = buffer[idx]
    fresh = mx.random.uniform(-4.0, 4.0, start.shape)
    reinit = (mx.random.uniform(shape=(BATCH, 1)) < 0.05)
    start = mx.where(reinit, fresh, start)
    neg = mx.stop_gradient(langevin(start))
    buffer[idx] = neg
    pos = sample_ring(BATCH)
    (loss, (cd, ep, en)), grads = loss_and_grad(model, pos, neg)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, buffer, loss)
    if step % 50 == 0 or step == 1:
        mae, band = sample_quality(buffer)
        print('<step n="%d" loss="%.4f" cd="%+.4f" e_pos="%+.3f" e_neg="%+.3f" '
              'radius_mae="%.3f" in_band="%.2f" t="%.1f"/>'
              % (step, loss.item(), cd.item(), ep.item(), en.item(), mae, band, time.time() - t0),
              flush=True)

# final check on fresh long chains from noise
probe = mx.random.uniform(-4.0, 4.0, (1024, 2))
for _ in range(5):
    probe = langevin(probe)
mx.eval(probe)
mae, band = sample_quality(probe)
print('<final radius_mae="%.3f" in_band="%.2f" seconds="%.1f"/>' % (mae, band, time.time() - t0))
