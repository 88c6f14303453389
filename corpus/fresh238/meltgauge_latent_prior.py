"""Glacier meltwater gauges: adversarial autoencoder of daily hydrographs.

Each sample is a synthetic 12-reading (2-hourly) discharge curve from a
proglacial stream gauge, driven by 2 hidden factors (melt intensity and
peak timing) plus sensor noise.  An encoder maps a curve to a 2-d code, a
decoder rebuilds it, and a latent discriminator pushes the code
distribution towards a standard normal prior (Makhzani et al. 2015).

Three updates per batch, three Adam optimizers:
  1. reconstruction  (encoder + decoder), lr warmed up linearly from 0
  2. discriminator   (prior samples = real, codes = fake)
  3. regularisation  (encoder tries to make codes look like prior samples)
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

T = 12
LATENT = 2
BATCH = 128
EPOCHS = 8


def make_curves(n, rng):
    melt = rng.gamma(3.0, 0.5, size=n)
    peak = rng.normal(7.0, 1.3, size=n)
    hours = np.arange(T)[None, :]
    base = 0.4 + 0.1 * rng.standard_normal((n, 1))
    wave = melt[:, None] * np.exp(-0.5 * ((hours - peak[:, None]) / 2.2) ** 2)
    x = base + wave + 0.05 * rng.standard_normal((n, T))
    return np.log1p(np.clip(x, 0, None)).astype(np.float32)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(T, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, LATENT))

    def __call__(self, x):
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LATENT, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, T))

    def __call__(self, z):
        return self.net(z)


class LatentCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LATENT, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def __call__(self, z):
        return self.net(z).squeeze(-1)


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.dec = Decoder()


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(2024)
    train = make_curves(9000, rng)
    val = make_curves(2000, rng)
    mu, sd = train.mean(0), train.std(0) + 1e-6
    train = mx.array((train - mu) / sd)
    val = mx.array((val - mu) / sd)

    ae = AutoEncoder()
    critic = LatentCritic()
    mx.eval(ae.parameters(), critic.parameters())

    steps_per_epoch = train.shape[0] // BATCH
    total = steps_per_epoch * EPOCHS
    warm = steps_per_epoch
    recon_lr = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-4)], [warm])
    opt_recon = optim.Adam(learning_rate=recon_lr)
    opt_critic = optim.Adam(learning_rate=5e-4, betas=[0.5, 0.9])
    opt_reg = optim.Adam(learning_rate=5e-4, betas=[0.5, 0.9])

    def recon_loss(model, x):
        return nn.losses.mse_loss(model.dec(model.enc(x)), x)

    def critic_loss(critic, z_prior, z_code):
        real = critic(z_prior)
        fake = critic(z_code)
        return (nn.losses.binary_cross_entropy(real, mx.ones_like(real), reduction="mean")
                + nn.losses.binary_cross_entropy(fake, mx.zeros_like(fake), reduction="mean"))

    def reg_loss(enc, x):
        s = critic(enc(x))
        return nn.losses.binary_cross_entropy(s, mx.ones_like(s), reduction="mean")

    recon_vg = nn.value_and_grad(ae, recon_loss)
    critic_vg = nn.value_and_grad(critic, critic_loss)
    reg_vg = nn.value_and_grad(ae.enc, reg_loss)

    print(f"train {train.shape[0]} curves, val {val.shape[0]}, {steps_per_epoch} steps/epoch")
    print(f"baseline val MSE (predict the mean curve): {float(mx.mean(val ** 2)):.4f}")
    print(f"chance critic loss: {2 * math.log(2):.4f}   chance reg loss: {math.log(2):.4f}")
    t0 = time.time()
    step = 0
    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(train.shape[0]))
        sums = np.zeros(3)
        for b in range(steps_per_epoch):
            x = train[perm[b * BATCH:(b + 1) * BATCH]]
            lr_now = float(recon_lr(step))
            r, g = recon_vg(ae, x)
            opt_recon.update(ae, g)

            z_code = mx.stop_gradient(ae.enc(x))
            z_prior = mx.random.normal(z_code.shape)
            c, g = critic_vg(critic, z_prior, z_code)
            opt_critic.update(critic, g)

            e, g = reg_vg(ae.enc, x)
            opt_reg.update(ae.enc, g)
            mx.eval(ae.parameters(), critic.parameters(), opt_recon.state, opt_critic.state, opt_reg.state)
            sums += [r.item(), c.item(), e.item()]
            step += 1
            if step == 1:
                print(f"step 1 | recon lr {lr_now:.2e} | recon {r.item():.4f} | critic {c.item():.4f} | reg {e.item():.4f}")
        z = ae.enc(val)
        v_mse = nn.losses.mse_loss(ae.dec(z), val).item()
        zm, zs = z.mean(0).tolist(), z.std(0).tolist()
        s = sums / steps_per_epoch
        print(f"epoch {epoch:2d} | recon {s[0]:.4f} | critic {s[1]:.4f} | reg {s[2]:.4f} | val mse {v_mse:.4f} "
              f"| code mean [{zm[0]:+.2f},{zm[1]:+.2f}] std [{zs[0]:.2f},{zs[1]:.2f}] | lr {lr_now:.1e}")

    z_prior = mx.random.normal((2000, LATENT))
    fresh = ae.dec(z_prior)
    gap = mx.abs(fresh.mean(0) - val.mean(0)).max().item()
    print(f"decoded prior samples: max |mean gap| vs val curves {gap:.3f} (std units)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
