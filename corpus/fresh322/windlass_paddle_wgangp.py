"""Canal lock-keeper's log: learn the joint law of (fill time, water rise)
per lockage with a Wasserstein GAN and a two-sided gradient penalty.

Narrow locks, broad locks and two-rise staircases are mixed in the log.
The critic takes 5 steps per generator step; the generator's learning rate
is warmed up from 0. Output is CSV-like, starting after a quiet warm-up.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

LOCKS = {  # name: (share, fill min mean, sd, rise m mean, sd)
    "narrow": (0.55, 6.0, 1.0, 2.0, 0.30),
    "broad": (0.30, 12.0, 1.5, 3.0, 0.40),
    "staircase": (0.15, 20.0, 2.0, 6.0, 0.50),
}


def lock_log(n, rng):
    names = list(LOCKS)
    shares = np.array([LOCKS[k][0] for k in names])
    kind = rng.choice(len(names), size=n, p=shares)
    out = np.zeros((n, 2), dtype=np.float32)
    for i, k in enumerate(names):
        _, fm, fs, rm, rs = LOCKS[k]
        idx = kind == i
        fill = rng.normal(fm, fs, idx.sum())
        rise = rm + 0.08 * (fill - fm) + rng.normal(0, rs, idx.sum())
        out[idx] = np.stack([fill, rise], axis=1)
    return out


def sliced_w1(a, b, n_proj=64, seed=0):
    r = np.random.default_rng(seed)
    th = r.normal(size=(2, n_proj))
    th /= np.linalg.norm(th, axis=0, keepdims=True)
    pa, pb = np.sort(a @ th, axis=0), np.sort(b @ th, axis=0)
    return float(np.mean(np.abs(pa - pb)))


def shares(x_units):
    centres = np.array([[v[1], v[3]] for v in LOCKS.values()])
    scale = np.array([4.0, 1.0])
    d = (((x_units[:, None, :] - centres[None]) / scale) ** 2).sum(-1)
    k = d.argmin(1)
    return [100.0 * np.mean(k == i) for i in range(len(LOCKS))]


class Sampler(nn.Module):
    def __init__(self, z_dim=4, width=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, width), nn.SiLU(),
                                 nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, 2))

    def __call__(self, z):
        return self.net(z)


class Critic(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, width), nn.LeakyReLU(0.2),
                                 nn.Linear(width, width), nn.LeakyReLU(0.2),
                                 nn.Linear(width, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(2024)
    np.random.seed(2024)
    train = lock_log(12000, rng)
    held = lock_log(4000, rng)
    mu, sd = train.mean(0), train.std(0)
    train_s = mx.array((train - mu) / sd)
    floor = sliced_w1((held[:2000] - mu) / sd, (held[2000:] - mu) / sd)

    Z, BATCH, GP_W, N_CRITIC, G_STEPS = 4, 128, 10.0, 5, 900
    gen, critic = Sampler(Z), Critic()
    mx.eval(gen.parameters(), critic.parameters())
    lr_g = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-4, 100), lambda step: mx.array(2e-4)],
        [100])
    opt_g = optim.Adam(learning_rate=lr_g, betas=[0.0, 0.9])
    opt_c = optim.Adam(learning_rate=1e-3, betas=[0.0, 0.9])

    def critic_obj(critic, real, fake, alpha):
        c_real, c_fake = critic(real), critic(fake)
        w_est = mx.mean(c_real) - mx.mean(c_fake)
        x_hat = alpha * real + (1 - alpha) * fake
        g = mx.grad(lambda x: mx.sum(critic(x)))(x_hat)
        gp = mx.mean((mx.sqrt(mx.sum(g * g, axis=1) + 1e-12) - 1.0) ** 2)
        return -w_est + GP_W * gp, (w_est, gp)

    def gen_obj(gen, z):
        return -mx.mean(critic(gen(z)))

    c_step = nn.value_and_grad(critic, critic_obj)
    g_step = nn.value_and_grad(gen, gen_obj)

    def sample_units(n):
        x = np.array(gen(mx.random.normal((n, Z))))
        return x * sd + mu

    w1_start = sliced_w1((sample_units(4000)[:2000] - mu) / sd, (held[:2000] - mu) / sd)
    print("gstep,lr_g,critic_obj,w_est,gp,g_obj,sw1_heldout,sw1_floor")
    print(f"0,{0.0:.2e},,,,,{w1_start:.4f},{floor:.4f}")
    t0 = time.time()
    n = train_s.shape[0]
    for gstep in range(1, G_STEPS + 1):
        for _ in range(N_CRITIC):
            real = train_s[mx.array(np.random.randint(0, n, BATCH))]
            fake = mx.stop_gradient(gen(mx.random.normal((BATCH, Z))))
            alpha = mx.random.uniform(shape=(BATCH, 1))
            (c_val, (w_est, gp)), c_grads = c_step(critic, real, fake, alpha)
            opt_c.update(critic, c_grads)
            mx.eval(critic.parameters(), opt_c.state, c_val, w_est, gp)
        lr_now = float(opt_g.learning_rate)
        g_val, g_grads = g_step(gen, mx.random.normal((BATCH, Z)))
        opt_g.update(gen, g_grads)
        mx.eval(gen.parameters(), opt_g.state, g_val)
        if gstep >= 150 and gstep % 75 == 0:
            sw1 = sliced_w1((sample_units(2000) - mu) / sd, (held[:2000] - mu) / sd)
            print(f"{gstep},{lr_now:.2e},{c_val.item():.4f},{w_est.item():.4f},"
                  f"{gp.item():.4f},{g_val.item():.4f},{sw1:.4f},{floor:.4f}")

    gen_units = sample_units(6000)
    ref = shares(held)
    got = shares(gen_units)
    print()
    print("lock type   | log share % | sampled % ")
    for k, r, g in zip(LOCKS, ref, got):
        print(f"{k:<11} | {r:11.1f} | {g:9.1f}")
    print(f"fill min mean/sd: log {held[:, 0].mean():.2f}/{held[:, 0].std():.2f}  "
          f"sampled {gen_units[:, 0].mean():.2f}/{gen_units[:, 0].std():.2f}")
    w1_end = sliced_w1((gen_units[:2000] - mu) / sd, (held[:2000] - mu) / sd)
    print(f"sw1 {w1_start:.4f} -> {w1_end:.4f} (floor {floor:.4f}); {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
