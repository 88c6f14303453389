"""Surf patrol tally: rescues per patrol shift, negative-binomial count model.

Pipeline stages: fit (warm-up from zero) -> checkpoint -> fresh process state ->
resume -> split-conformal calibration.  Logs are RFC-5424 style lines.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

HOST = "tower7"


def log(sev, msgid, **kv):
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = " ".join(f"{k}={v}" for k, v in kv.items())
    print(f"<{sev}>1 {ts} {HOST} patrol {os.getpid()} {msgid} - {body}", flush=True)


def make_shifts(n, rng):
    # swell_m, wind_kt, water_c, crowd_k, rip_flag, hour
    swell = rng.gamma(2.0, 0.6, n)
    wind = rng.uniform(0, 25, n)
    water = rng.normal(20, 3, n)
    crowd = rng.lognormal(0.3, 0.7, n)
    rip = rng.binomial(1, 0.3, n).astype(np.float64)
    hour = rng.uniform(8, 18, n)
    eta = (-1.6 + 0.55 * swell + 0.03 * wind + 0.05 * (water - 20)
           + 0.7 * np.log(crowd) + 0.8 * rip + 0.4 * np.sin((hour - 8) / 10 * math.pi))
    mu = np.exp(eta)
    alpha = 0.6
    lam = rng.gamma(1.0 / alpha, alpha * mu)
    y = rng.poisson(lam).astype(np.float32)
    X = np.stack([swell, wind, water, crowd, rip, hour], 1)
    return X, y, mu, alpha


def lgamma(z):
    # shift by 8 then Stirling series; differentiable in z
    shift = mx.zeros_like(z)
    for k in range(8):
        shift = shift + mx.log(z + k)
    w = z + 8
    s = (w - 0.5) * mx.log(w) - w + 0.5 * math.log(2 * math.pi)
    s = s + 1 / (12 * w) - 1 / (360 * w ** 3) + 1 / (1260 * w ** 5)
    return s - shift


def nb_nll(log_mu, log_alpha, y):
    mu = mx.exp(log_mu)
    r = mx.exp(-log_alpha)
    ll = (lgamma(y + r) - lgamma(r) - lgamma(y + 1)
          + r * (mx.log(r) - mx.log(r + mu)) + y * (log_mu - mx.log(r + mu)))
    return -ll


class TallyNet(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.l1 = nn.Linear(d, 32)
        self.l2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 1)
        self.log_alpha = mx.array([0.0])

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    return nb_nll(model(x), model.log_alpha, y).mean()


def build(d, total, warm):
    model = TallyNet(d)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return model, opt


def run_steps(model, opt, Xtr, ytr, start, stop, rng, Xva, yva):
    vg = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, Xtr.shape[0], 128))
        lr_used = opt.learning_rate.item()
        loss, g = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 0 or (step + 1) % 200 == 0:
            va = loss_fn(model, Xva, yva).item()
            log(14, "FIT", step=step + 1, lr=f"{lr_used:.2e}", batch_nll=f"{loss.item():.4f}",
                val_nll=f"{va:.4f}", alpha=f"{math.exp(model.log_alpha.item()):.3f}")


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    X, y, mu_true, alpha_true = make_shifts(14000, rng)
    m, s = X[:9000].mean(0), X[:9000].std(0)
    Xs = ((X - m) / s).astype(np.float32)
    Xtr, ytr = mx.array(Xs[:9000]), mx.array(y[:9000])
    Xva, yva = mx.array(Xs[9000:11000]), mx.array(y[9000:11000])
    Xca, yca = Xs[11000:12500], y[11000:12500]
    Xte, yte = Xs[12500:], y[12500:]

    ybar = float(y[:9000].mean())
    a_mom = max((float(y[:9000].var()) - ybar) / ybar ** 2, 1e-3)
    base = nb_nll(mx.full(yva.shape, math.log(ybar)), mx.array([math.log(a_mom)]), yva).mean().item()
    oracle = nb_nll(mx.array(np.log(mu_true[9000:11000]).astype(np.float32)),
                    mx.array([math.log(alpha_true)]), yva).mean().item()
    log(13, "DATA", train=9000, val=2000, calib=1500, test=1500, zero_share=f"{(y == 0).mean():.2f}",
        intercept_nll=f"{base:.4f}", oracle_nll=f"{oracle:.4f}")

    total, warm, cut = 1200, 100, 600
    model, opt = build(X.shape[1], total, warm)
    mx.eval(model.parameters())
    run_steps(model, opt, Xtr, ytr, 0, cut, rng, Xva, yva)

    with tempfile.TemporaryDirectory() as tmp:
        model.save_weights(os.path.join(tmp, "tally.safetensors"))
        mx.save_safetensors(os.path.join(tmp, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump({"step": cut}, f)
        probe = model(Xva[:64])
        mx.eval(probe)
        del model, opt
        log(13, "CKPT", saved_step=cut, files=len(os.listdir(tmp)))

        model, opt = build(X.shape[1], total, warm)
        model.load_weights(os.path.join(tmp, "tally.safetensors"))
        flat = mx.load(os.path.join(tmp, "opt.safetensors"))
        opt.state = tree_unflatten(list(flat.items()))
        with open(os.path.join(tmp, "meta.json")) as f:
            start = json.load(f)["step"]
        same = mx.abs(model(Xva[:64]) - probe).max().item()
        log(13, "RESUME", step=start, opt_step=int(opt.state["step"].item()), max_pred_diff=f"{same:.1e}")

    run_steps(model, opt, Xtr, ytr, start, total, rng, Xva, yva)

    alpha = math.exp(model.log_alpha.item())
    mu_ca = np.exp(np.array(model(mx.array(Xca))))
    sc = np.abs(yca - mu_ca) / np.sqrt(mu_ca + alpha * mu_ca ** 2)
    q = np.quantile(sc, math.ceil(0.9 * (len(sc) + 1)) / len(sc))
    mu_te = np.exp(np.array(model(mx.array(Xte))))
    half = q * np.sqrt(mu_te + alpha * mu_te ** 2)
    cover = np.mean((yte >= mu_te - half) & (yte <= mu_te + half)) * 100
    mae = np.abs(yte - mu_te).mean()
    mae_base = np.abs(yte - ybar).mean()
    log(14, "CALIB", target_pct=90, cover_pct=f"{cover:.1f}", test_mae=f"{mae:.3f}",
        mean_guess_mae=f"{mae_base:.3f}", alpha=f"{alpha:.3f}", alpha_true=alpha_true)


if __name__ == "__main__":
    main()
