"""Daily hive weight change (kg) for an apiary, regressed with a Bayes-by-Backprop
network: factorised Gaussian weights, ELBO = expected NLL + beta * KL / N."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
N_TRAIN, N_VALID = 3000, 1500


def make_days(n):
    temp = rng.uniform(5, 32, n)          # C
    rain = rng.exponential(2.0, n)        # mm
    bloom = rng.uniform(0, 1, n)          # forage index
    colony = rng.uniform(0.3, 1.0, n)     # colony strength
    dlen = rng.uniform(10, 16, n)         # day length h
    flight = np.clip((temp - 10) / 12, 0, 1) * np.exp(-rain / 3)
    y = (1.4 * colony * bloom * flight * (dlen - 9) / 5
         - 0.25 * colony - 0.02 * np.maximum(12 - temp, 0))
    y = y + rng.normal(0, 0.12, n)
    x = np.stack([temp, rain, bloom, colony, dlen], 1)
    return x.astype(np.float32), y.astype(np.float32)


xtr, ytr = make_days(N_TRAIN)
xva, yva = make_days(N_VALID)
mu_x, sd_x = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu_x) / sd_x, (xva - mu_x) / sd_x
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))

PRIOR_SIGMA = 1.0


class BayesLinear(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        s = 1.0 / math.sqrt(n_in)
        self.w_mu = mx.random.uniform(-s, s, (n_out, n_in))
        self.w_rho = mx.full((n_out, n_in), -5.0)
        self.b_mu = mx.zeros((n_out,))
        self.b_rho = mx.full((n_out,), -5.0)

    def __call__(self, x, sample=True):
        if not sample:
            return x @ self.w_mu.T + self.b_mu
        w = self.w_mu + nn.softplus(self.w_rho) * mx.random.normal(self.w_mu.shape)
        b = self.b_mu + nn.softplus(self.b_rho) * mx.random.normal(self.b_mu.shape)
        return x @ w.T + b

    def kl(self):
        total = mx.array(0.0)
        for mu, rho in ((self.w_mu, self.w_rho), (self.b_mu, self.b_rho)):
            sig = nn.softplus(rho)
            total = total + mx.sum(
                math.log(PRIOR_SIGMA) - mx.log(sig)
                + (sig ** 2 + mu ** 2) / (2 * PRIOR_SIGMA ** 2) - 0.5)
        return total


class HiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [BayesLinear(5, 48), BayesLinear(48, 48), BayesLinear(48, 1)]
        self.log_noise = mx.array(0.0)

    def __call__(self, x, sample=True):
        for i, layer in enumerate(self.layers):
            x = layer(x, sample)
            if i < len(self.layers) - 1:
                x = nn.silu(x)
        return x.squeeze(-1)

    def kl(self):
        return sum(l.kl() for l in self.layers)


def gauss_nll(pred, y, log_noise):
    return mx.mean(0.5 * math.log(2 * math.pi) + log_noise
                   + 0.5 * (y - pred) ** 2 * mx.exp(-2 * log_noise))


def elbo_loss(model, x, y, beta):
    nll = gauss_nll(model(x), y, model.log_noise)
    kl_n = model.kl() / N_TRAIN
    return nll + beta * kl_n, (nll, kl_n)


def predictive(model, x, y, draws=24):
    preds = mx.stack([model(x) for _ in range(draws)])
    m, sd_epi = mx.mean(preds, 0), mx.std(preds, 0)
    sd = mx.sqrt(sd_epi ** 2 + mx.exp(2 * model.log_noise))
    nll = mx.mean(0.5 * math.log(2 * math.pi) + mx.log(sd) + 0.5 * ((y - m) / sd) ** 2)
    rmse = mx.sqrt(mx.mean((y - m) ** 2))
    cover = mx.mean((mx.abs(y - m) < 1.2816 * sd).astype(mx.float32))
    return nll.item(), rmse.item(), 100 * cover.item(), mx.mean(sd_epi).item()


mx.random.seed(3)
model = HiveNet()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=2e-3)
vg = nn.value_and_grad(model, elbo_loss)

EPOCHS, BATCH, WARM = 40, 100, 8
steps_per_epoch = N_TRAIN // BATCH
base = float(mx.sqrt(mx.mean((yva - mx.mean(ytr)) ** 2)).item())
print(f"apiary days: train {N_TRAIN} valid {N_VALID}; predict-the-mean valid RMSE {base:.3f} kg")
print(f"KL weight beta ramps 0 -> 1 over the first {WARM} epochs, then stays at 1")
hdr = ("ep", "beta", "nll", "beta*KL/N", "-elbo", "v_nll", "v_rmse", "cov80%", "epi_sd", "s")
print("{:>3} {:>5} {:>8} {:>10} {:>8} {:>8} {:>7} {:>7} {:>7} {:>5}".format(*hdr))
t0 = time.time()
step = 0
for ep in range(1, EPOCHS + 1):
    order = mx.array(rng.permutation(N_TRAIN))
    sums = np.zeros(3)
    for i in range(steps_per_epoch):
        idx = order[i * BATCH:(i + 1) * BATCH]
        beta = min(1.0, step / (WARM * steps_per_epoch))
        (loss, (nll, kl_n)), grads = vg(model, xtr[idx], ytr[idx], beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, nll, kl_n)
        sums += (nll.item(), beta * kl_n.item(), loss.item())
        step += 1
    sums /= steps_per_epoch
    v = predictive(model, xva, yva)
    print("{:3d} {:5.2f} {:+8.4f} {:10.4f} {:+8.4f} {:+8.4f} {:7.4f} {:7.1f} {:7.4f} {:5.1f}".format(
        ep, beta, sums[0], sums[1], sums[2], v[0], v[1], v[2], v[3], time.time() - t0))

mean_rmse = mx.sqrt(mx.mean((yva - model(xva, sample=False)) ** 2)).item()
print(f"noise sd learned {math.exp(model.log_noise.item()):.3f} kg (simulated 0.120)")
print(f"posterior-mean RMSE {mean_rmse:.4f} kg vs predict-the-mean {base:.4f} kg")
