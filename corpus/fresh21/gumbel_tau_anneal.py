# Discrete-bottleneck autoencoder: each input is encoded into 6 categorical
# latents (8 classes each) sampled with the Gumbel-softmax relaxation.  The
# temperature tau is annealed exponentially from 2.0 to 0.3, so the relaxed
# samples get sharper (and noisier) as training goes on.
import math
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)

N_LAT, N_CLS, DIM = 6, 8, 32
STEPS, BATCH = 1600, 128
TAU0, TAU_MIN = 2.0, 0.3
ANNEAL = math.log(TAU0 / TAU_MIN) / 1200  # reach TAU_MIN at step 1200

# data generated from true discrete codes -> continuous observations
codebook = mx.random.normal((N_LAT, N_CLS, DIM)) / math.sqrt(N_LAT)


def sample_data(n):
    codes = mx.random.randint(0, N_CLS, (n, N_LAT))
    x = mx.zeros((n, DIM))
    for j in range(N_LAT):
        x = x + codebook[j][codes[:, j]]
    return x + 0.05 * mx.random.normal((n, DIM))


class GumbelAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(DIM, 128), nn.GELU(), nn.Linear(128, N_LAT * N_CLS))
        self.dec = nn.Sequential(nn.Linear(N_LAT * N_CLS, 128), nn.GELU(), nn.Linear(128, DIM))

    def __call__(self, x, tau, hard=False):
        logits = self.enc(x).reshape(-1, N_LAT, N_CLS)
        if hard:
            y = mx.eye(N_CLS)[mx.argmax(logits, axis=-1)]
        else:
            u = mx.random.uniform(low=1e-6, high=1.0 - 1e-6, shape=logits.shape)
            g = -mx.log(-mx.log(u))
            y = mx.softmax((logits + g) / tau, axis=-1)
        return self.dec(y.reshape(-1, N_LAT * N_CLS)), logits


def loss_fn(model, x, tau):
    recon, logits = model(x, tau)
    mse = mx.mean(mx.sum(mx.square(recon - x), axis=-1))
    # small KL to a uniform prior over classes keeps the codes spread out
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    kl = mx.mean(mx.sum(mx.exp(logp) * (logp + math.log(N_CLS)), axis=(-2, -1)))
    return mse + 0.01 * kl


model = GumbelAE()
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, loss_fn)
x_val = sample_data(1024)

sys.stdout.write("  step |   tau  | relaxed loss | hard-code val mse\n")
sys.stdout.write("-------+--------+--------------+------------------\n")
run = 0.0
for step in range(1, STEPS + 1):
    tau = max(TAU_MIN, TAU0 * math.exp(-ANNEAL * step))
    x = sample_data(BATCH)
    loss, grads = vg(model, x, tau)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run += loss.item()
    if step % 100 == 0:
        recon_hard, _ = model(x_val, tau, hard=True)
        val = mx.mean(mx.sum(mx.square(recon_hard - x_val), axis=-1)).item()
        sys.stdout.write(f"{step:6d} | {tau:6.3f} | {run / 100:12.4f} | {val:17.4f}\n")
        sys.stdout.flush()
        run = 0.0
