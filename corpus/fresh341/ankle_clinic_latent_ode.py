"""Ankle-sprain clinic: latent ODE over irregular follow-up visits.

Each patient is seen 8 times at irregular days after the injury. At every visit
the physio records ankle swelling (cm over the healthy side) and joint stiffness
(0-1 score). A latent-ODE VAE encodes the first 5 visits (GRU run backwards in
time over [reading, gap]), samples z0 at injury day, flows z(t) with a learned
vector field (hand-written RK4, 2 substeps per gap) and decodes every visit.
The last 3 visits are a forecast, compared with carrying the 5th visit forward.

Loss = Gaussian NLL (constant sd 0.08, constants kept, so it is negative once the
fit is good) + beta * KL, beta ramped from exactly 0 over the first 250 steps.
Halfway through, the run is saved to disk and a fresh process-state is rebuilt
and resumed from the checkpoint.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_TRAIN, N_VAL = 640, 128
N_VISITS, N_SEEN = 8, 5
OBS_SD = 0.08
LATENT = 4
STEPS_A, STEPS_B = 450, 450
BATCH = 64
KL_RAMP = 250


# ----------------------------------------------------------------- data
def simulate_exact(n, rng):
    """Per-patient fine RK4 between that patient's own visit days."""
    k = rng.uniform(0.18, 0.40, n)
    d = rng.uniform(0.25, 0.45, n)
    s = rng.uniform(2.0, 4.0, n)
    r = rng.uniform(0.0, 0.3, n)
    days = np.sort(rng.uniform(0.5, 12.0, (n, N_VISITS)), axis=1)
    out = np.zeros((n, N_VISITS, 2), np.float32)
    prev = np.zeros(n)

    def f(s_, r_):
        return -k * s_, 0.35 * s_ * (1.0 - r_) - d * r_

    for j in range(N_VISITS):
        gap = days[:, j] - prev
        m = 40
        h = gap / m
        for _ in range(m):
            a1 = f(s, r)
            a2 = f(s + h / 2 * a1[0], r + h / 2 * a1[1])
            a3 = f(s + h / 2 * a2[0], r + h / 2 * a2[1])
            a4 = f(s + h * a3[0], r + h * a3[1])
            s = s + h / 6 * (a1[0] + 2 * a2[0] + 2 * a3[0] + a4[0])
            r = r + h / 6 * (a1[1] + 2 * a2[1] + 2 * a3[1] + a4[1])
        out[:, j, 0] = s
        out[:, j, 1] = r
        prev = days[:, j]
    return days.astype(np.float32), out


rng = np.random.default_rng(SEED)
tr_days, tr_clean = simulate_exact(N_TRAIN, rng)
va_days, va_clean = simulate_exact(N_VAL, rng)
tr_obs = tr_clean + rng.normal(0, OBS_SD, tr_clean.shape).astype(np.float32)
va_obs = va_clean + rng.normal(0, OBS_SD, va_clean.shape).astype(np.float32)


def gaps(days):
    prev = np.concatenate([np.zeros((days.shape[0], 1), np.float32), days[:, :-1]], 1)
    return days - prev


tr_gap, va_gap = gaps(tr_days), gaps(va_days)


# ----------------------------------------------------------------- model
class VectorField(nn.Module):
    def __init__(self, dim, hidden=32):
        super().__init__()
        self.l1 = nn.Linear(dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, dim)

    def __call__(self, z):
        return self.l3(mx.tanh(self.l2(mx.tanh(self.l1(z)))))


class LatentODE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.GRU(3, 32)
        self.to_q = nn.Linear(32, 2 * LATENT)
        self.field = VectorField(LATENT)
        self.dec = nn.Linear(LATENT, 2)

    def encode(self, obs, gap):
        # run backwards over the seen visits: last visit first
        x = mx.concatenate([obs, gap[..., None] / 12.0], axis=-1)[:, ::-1, :]
        h = self.enc(x)[:, -1, :]
        q = self.to_q(h)
        return q[:, :LATENT], q[:, LATENT:]

    def flow(self, z, gap, substeps=2):
        outs = []
        for j in range(gap.shape[1]):
            h = (gap[:, j] / substeps)[:, None]
            for _ in range(substeps):
                k1 = self.field(z)
                k2 = self.field(z + h / 2 * k1)
                k3 = self.field(z + h / 2 * k2)
                k4 = self.field(z + h * k3)
                z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            outs.append(z)
        return mx.stack(outs, axis=1)

    def __call__(self, obs, gap, sample=True):
        mu, logvar = self.encode(obs[:, :N_SEEN], gap[:, :N_SEEN])
        if sample:
            z0 = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        else:
            z0 = mu
        zs = self.flow(z0, gap)
        return self.dec(zs), mu, logvar


def loss_fn(model, obs, gap, beta):
    pred, mu, logvar = model(obs, gap)
    nll = 0.5 * ((pred - obs) / OBS_SD) ** 2 + math.log(OBS_SD) + 0.5 * math.log(2 * math.pi)
    nll = nll.sum(axis=(1, 2)).mean() / (N_VISITS * 2)
    kl = 0.5 * (mx.exp(logvar) + mu ** 2 - 1.0 - logvar).sum(axis=1).mean() / (N_VISITS * 2)
    return nll + beta * kl, (nll, kl)


def evaluate(model):
    obs, gap = mx.array(va_obs), mx.array(va_gap)
    pred, _, _ = model(obs, gap, sample=False)
    pred = np.array(pred)
    fut = slice(N_SEEN, N_VISITS)
    rmse_fit = np.sqrt(((pred[:, :N_SEEN] - va_clean[:, :N_SEEN]) ** 2).mean())
    rmse_fc = np.sqrt(((pred[:, fut] - va_clean[:, fut]) ** 2).mean())
    carry = np.repeat(va_obs[:, N_SEEN - 1 : N_SEEN], N_VISITS - N_SEEN, axis=1)
    rmse_carry = np.sqrt(((carry - va_clean[:, fut]) ** 2).mean())
    return rmse_fit, rmse_fc, rmse_carry


def beta_at(step):
    return min(1.0, step / KL_RAMP)


def make_opt():
    return optim.Adam(learning_rate=3e-3)


def train(model, opt, start, stop, data_rng):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = data_rng.integers(0, N_TRAIN, BATCH)
        obs, gap = mx.array(tr_obs[idx]), mx.array(tr_gap[idx])
        beta = beta_at(step)
        (loss, (nll, kl)), grads = step_fn(model, obs, gap, beta)
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == stop - 1:
            fit, fc, carry = evaluate(model)
            print(
                f"step {step:5d}  beta {beta:.2f}  loss {loss.item():+.4f}  nll/pt {nll.item():+.4f}"
                f"  kl/pt {kl.item():.4f}  |g| {gnorm.item():.3f}  val fit rmse {fit:.3f}"
                f"  forecast rmse {fc:.3f} (carry-forward {carry:.3f})",
                flush=True,
            )


def save_ckpt(path, model, opt, step):
    model.save_weights(os.path.join(path, "model.safetensors"))
    state = dict(tree_flatten(opt.state))
    mx.savez(os.path.join(path, "opt.npz"), **state)
    with open(os.path.join(path, "step.txt"), "w") as fh:
        fh.write(str(step))


def load_ckpt(path):
    model = LatentODE()
    model.load_weights(os.path.join(path, "model.safetensors"))
    opt = make_opt()
    opt.init(model.trainable_parameters())
    state = mx.load(os.path.join(path, "opt.npz"))
    opt.state = tree_unflatten(list(state.items()))
    with open(os.path.join(path, "step.txt")) as fh:
        step = int(fh.read())
    return model, opt, step


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    model = LatentODE()
    opt = make_opt()
    n_par = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"patients: train {N_TRAIN}  val {N_VAL}; visits {N_VISITS} (encode {N_SEEN}); params {n_par}")
    fit, fc, carry = evaluate(model)
    print(f"untrained  val fit rmse {fit:.3f}  forecast rmse {fc:.3f} (carry-forward {carry:.3f})")
    data_rng = np.random.default_rng(SEED + 1)
    train(model, opt, 0, STEPS_A, data_rng)

    with tempfile.TemporaryDirectory() as ck:
        save_ckpt(ck, model, opt, STEPS_A)
        before = evaluate(model)
        del model, opt
        model, opt, step = load_ckpt(ck)
        after = evaluate(model)
        print(
            f"checkpoint at step {step} reloaded: forecast rmse {before[1]:.4f} -> {after[1]:.4f}; "
            f"adam step counter {opt.state['step'].item()}",
            flush=True,
        )
    train(model, opt, step, STEPS_A + STEPS_B, data_rng)
    fit, fc, carry = evaluate(model)
    print(
        f"final  val fit rmse {fit:.3f} (obs noise sd {OBS_SD})  forecast rmse {fc:.3f}"
        f"  carry-forward {carry:.3f}  ratio {fc / carry:.2f}  time {time.time() - t0:.1f}s"
    )


if __name__ == "__main__":
    main()
