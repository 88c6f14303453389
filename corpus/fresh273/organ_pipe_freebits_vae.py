# Organ workshop: a VAE over voiced-pipe spectra (16 harmonic log-amplitudes)
# with a per-dimension free-bits KL floor, saved to disk halfway and resumed.
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

H, Z = 16, 6
FREE = 0.15  # nats per latent dimension
rng = np.random.default_rng(7)


def pipes(n):
    k = np.arange(1, H + 1, dtype=np.float32)
    flue = rng.random(n) < 0.6
    slope = np.where(flue, rng.uniform(0.9, 1.6, n), rng.uniform(0.3, 0.8, n))
    odd = np.where(flue, rng.uniform(0.0, 0.3, n), rng.uniform(0.4, 1.2, n))
    formant = rng.uniform(3, 11, n)
    spec = (-slope[:, None] * np.log(k)[None]
            - odd[:, None] * (k[None] % 2 == 0)
            + 0.8 * np.exp(-0.5 * ((k[None] - formant[:, None]) / 1.5) ** 2))
    spec += 0.05 * rng.standard_normal(spec.shape)
    return spec.astype(np.float32)


tr_np, va_np = pipes(12000), pipes(2000)
mean, std = tr_np.mean(0), tr_np.std(0)
train = mx.array((tr_np - mean) / std)
valid = mx.array((va_np - mean) / std)
baseline_mse = float(np.mean(((va_np - mean) / std) ** 2))


class PipeVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(H, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mu = nn.Linear(64, Z)
        self.logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                                 nn.Linear(64, H))

    def __call__(self, x, sample=True):
        h = self.enc(x)
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape) if sample else mu
        return self.dec(z), mu, logvar


def terms(model, x):
    xh, mu, logvar = model(x)
    rec = mx.mean(mx.sum((xh - x) ** 2, axis=1)) * 0.5
    kl_dim = mx.mean(0.5 * (mu ** 2 + mx.exp(logvar) - 1.0 - logvar), axis=0)
    kl_floor = mx.sum(mx.maximum(kl_dim, FREE))
    return rec, kl_floor, kl_dim


def loss_fn(model, x):
    rec, kl_floor, _ = terms(model, x)
    return rec + kl_floor


def make(lr_sched):
    m = PipeVAE()
    o = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
    return m, o


TOTAL, HALF, BATCH = 1400, 700, 128
sched = optim.cosine_decay(2e-3, TOTAL, 1e-4)
mx.random.seed(0)
model, opt = make(sched)
ckpt_tmp = tempfile.TemporaryDirectory(prefix="pipe_vae_")
ckpt_dir = ckpt_tmp.name
print(f"spectra train={train.shape[0]} held-out={valid.shape[0]}  H={H} Z={Z} free-bits={FREE}/dim")
print(f"held-out MSE of the mean spectrum (baseline): {baseline_mse:.3f}")


def run(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = train.shape[0]
    for it in range(start + 1, stop + 1):
        idx = mx.array(rng.integers(0, n, BATCH))
        loss, grads = step_fn(model, train[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it % 100 == 0:
            rec, klf, kld = terms(model, valid)
            xh, _, _ = model(valid, sample=False)
            mse = mx.mean((xh - valid) ** 2).item()
            active = int(mx.sum(kld > FREE).item())
            print(f"step {it:5d} loss {loss.item():7.3f} | held-out rec {rec.item():6.3f} "
                  f"kl_term {klf.item():.3f} raw_kl {mx.sum(kld).item():.3f} "
                  f"dims_above_floor {active}/{Z} mse {mse:.3f}")


t0 = time.time()
run(model, opt, 0, HALF)

# checkpoint: weights + optimizer state + step, then rebuild from disk
mx.save_safetensors(os.path.join(ckpt_dir, "model.safetensors"),
                    dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                    dict(tree_flatten(opt.state)))
before = loss_fn(model, valid[:512]).item()
del model, opt
print(f"-- saved checkpoint at step {HALF} to {ckpt_dir}; reloading into fresh objects --")

model, opt = make(sched)
model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
mx.random.seed(1)
after = loss_fn(model, valid[:512]).item()
print(f"resume check: loss before save {before:.3f}, after load {after:.3f}, "
      f"optimizer step {int(opt.state['step'].item())}, lr {opt.learning_rate.item():.2e}")
run(model, opt, HALF, TOTAL)

xh, _, _ = model(valid, sample=False)
mse = mx.mean((xh - valid) ** 2).item()
_, _, kld = terms(model, valid)
print(f"final held-out reconstruction MSE {mse:.3f} vs mean-spectrum baseline {baseline_mse:.3f}")
print("per-dim KL (nats): " + " ".join(f"{v:.2f}" for v in np.array(kld).tolist()))
ckpt_tmp.cleanup()
print(f"done in {time.time() - t0:.1f}s")
