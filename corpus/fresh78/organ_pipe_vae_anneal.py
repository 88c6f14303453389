"""VAE over organ-pipe harmonic spectra with KL annealing (beta 0 -> 1)."""
import json, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

H = 12  # harmonics per pipe


def make_pipes(n, rng):
    # latent: scale type (principal/flute/reed), wind pressure, mouth cut-up
    kind = rng.integers(0, 3, n)
    press = rng.normal(0, 1, n)
    cut = rng.normal(0, 1, n)
    k = np.arange(1, H + 1)[None, :]
    slope = np.array([1.2, 2.2, 0.6])[kind][:, None] + 0.15 * cut[:, None]
    amp_db = -slope * 6 * np.log2(k) + 2.0 * press[:, None]
    odd = (kind == 1)[:, None] * (k % 2 == 0) * -6.0   # stopped flutes: weak even partials
    x = amp_db + odd + rng.normal(0, 0.8, (n, H))
    return x.astype(np.float32)


class VAE(nn.Module):
    def __init__(self, d=H, z=3, h=48):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, d))
        self.log_sigma_x = mx.array(0.0)   # learned output noise (shared)

    def __call__(self, x, eps):
        h = self.enc(x)
        mu, lv = self.mu(h), mx.clip(self.logvar(h), -8, 6)
        z = mu + mx.exp(0.5 * lv) * eps
        return self.dec(z), mu, lv


def terms(model, x, eps):
    xh, mu, lv = model(x, eps)
    ls = model.log_sigma_x
    nll = 0.5 * mx.sum(((x - xh) / mx.exp(ls)) ** 2 + 2 * ls + np.log(2 * np.pi), axis=1)
    kl = 0.5 * mx.sum(mx.exp(lv) + mu ** 2 - 1 - lv, axis=1)
    return mx.mean(nll), mx.mean(kl)


def loss_fn(model, x, eps, beta):
    nll, kl = terms(model, x, eps)
    return nll + beta * kl


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    raw = make_pipes(12000, rng)
    mean, sd = raw.mean(0), raw.std(0)
    data = (raw - mean) / sd
    tr, te = mx.array(data[:10000]), mx.array(data[10000:])

    model = VAE()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    vg = nn.value_and_grad(model, loss_fn)

    warm, steps, bs = 800, 2400, 128
    log = lambda **kw: print(json.dumps(kw), flush=True)

    def test_elbo():
        eps = mx.random.normal((te.shape[0], 3))
        nll, kl = terms(model, te, eps)
        return float(nll), float(kl)

    n0, k0 = test_elbo()
    log(event="start", params=sum(v.size for _, v in tree_flatten(model.parameters())),
        test_nll=round(n0, 3), test_kl=round(k0, 3), neg_elbo=round(n0 + k0, 3))
    t0 = time.time()
    run = []
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, tr.shape[0], bs))
        x = tr[idx]
        eps = mx.random.normal((bs, 3))
        beta = min(1.0, (step - 1) / warm)
        loss, g = vg(model, x, eps, mx.array(beta))
        if step == 1:
            flat = tree_flatten(g)
            zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
            log(event="grad_check", leaves=len(flat), zero_leaves=zero)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(float(loss))
        if step % 200 == 0:
            n, k = test_elbo()
            log(event="report", step=step, beta=round(beta, 3),
                train_objective=round(float(np.mean(run[-200:])), 3),
                test_nll_nats=round(n, 3), test_kl_nats=round(k, 3),
                test_neg_elbo=round(n + k, 3), secs=round(time.time() - t0, 1))
    n, k = test_elbo()
    log(event="done", test_neg_elbo=round(n + k, 3), sigma_x=round(float(mx.exp(model.log_sigma_x)), 3),
        note="objective rises during KL warm-up (beta 0->1 over %d steps); neg_elbo can go negative" % warm)


if __name__ == "__main__":
    main()
