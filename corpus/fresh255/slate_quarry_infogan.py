"""InfoGAN over split roofing slates from three quarry seams.

Each slate: (log thickness in mm, cleavage angle in degrees), three seams with
different typical thickness / angle. The generator gets 3 noise numbers plus a
3-way categorical code; a Q head that shares the discriminator trunk must
recover the code from generated slates (mutual-information term). The code is
never told which seam is which; after training each code value should settle
on one seam. An exponential moving average of the generator weights is kept and
reported beside the raw generator. Two-time-scale learning rates.
Reports only at the 1st step and at each quarter of the run.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

SEAMS = {  # name: (share, mean log10 thickness mm, mean cleavage deg, sd thick, sd deg, corr)
    "north": (0.34, np.log10(6.0), 12.0, 0.04, 2.0, 0.5),
    "middle": (0.33, np.log10(9.0), 22.0, 0.05, 2.5, -0.3),
    "south": (0.33, np.log10(5.0), 30.0, 0.04, 1.8, 0.0),
}
N_CODE = 3
N_NOISE = 3
STEPS = 1600
BATCH = 128
INFO_WEIGHT = 1.0
EMA_DECAY = 0.98


def sample_slates(n, rng):
    names = list(SEAMS)
    shares = np.array([SEAMS[k][0] for k in names])
    seam = rng.choice(len(names), size=n, p=shares)
    out = np.empty((n, 2))
    for i, k in enumerate(names):
        _, mt, ma, st, sa, r = SEAMS[k]
        m = seam == i
        cov = np.array([[st * st, r * st * sa], [r * st * sa, sa * sa]])
        out[m] = rng.multivariate_normal([mt, ma], cov, size=m.sum())
    return out, seam


class Splitter(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_NOISE + N_CODE, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 2)

    def __call__(self, noise, code_onehot):
        h = nn.relu(self.l1(mx.concatenate([noise, code_onehot], axis=-1)))
        h = nn.relu(self.l2(h))
        return self.out(h)


class Inspector(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2))
        self.real_head = nn.Linear(64, 1)
        self.code_head = nn.Linear(64, N_CODE)

    def __call__(self, x):
        h = self.trunk(x)
        return self.real_head(h).squeeze(-1), self.code_head(h)


def bce(logits, target):
    return nn.losses.binary_cross_entropy(logits, target, with_logits=True, reduction="mean")


def inspector_loss(insp, real, fake, codes):
    r_logit, _ = insp(real)
    f_logit, f_code = insp(mx.stop_gradient(fake))
    adv = bce(r_logit, mx.ones_like(r_logit)) + bce(f_logit, mx.zeros_like(f_logit))
    info = nn.losses.cross_entropy(f_code, codes, reduction="mean")
    return adv + INFO_WEIGHT * info, (adv, info)


def splitter_loss(gen, insp, noise, onehot, codes):
    fake = gen(noise, onehot)
    f_logit, f_code = insp(fake)
    adv = bce(f_logit, mx.ones_like(f_logit))
    info = nn.losses.cross_entropy(f_code, codes, reduction="mean")
    return adv + INFO_WEIGHT * info, (adv, info)


def rbf_mmd(a, b, scale=0.5):
    def k(x, y):
        d = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        return np.exp(-d / (2 * scale * scale))
    return float(k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean())


def code_report(gen, mu, sd, centres, rng, n=600):
    """Per code value: share of generated slates nearest each seam centre (standardised space)."""
    table = np.zeros((N_CODE, len(centres)))
    samples = []
    for c in range(N_CODE):
        noise = mx.array(rng.normal(size=(n, N_NOISE)).astype(np.float32))
        onehot = mx.array(np.eye(N_CODE, dtype=np.float32)[np.full(n, c)])
        x = np.array(gen(noise, onehot))
        samples.append(x)
        d = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
        table[c] = np.bincount(d.argmin(1), minlength=len(centres)) / n
    purity = table.max(1).mean()
    seams_hit = len(set(table.argmax(1)))
    return table, purity, seams_hit, np.concatenate(samples)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(21)
    raw, _ = sample_slates(20000, rng)
    held, _ = sample_slates(1500, rng)
    mu, sd = raw.mean(0), raw.std(0)
    train = mx.array(((raw - mu) / sd).astype(np.float32))
    held_z = ((held - mu) / sd).astype(np.float32)
    centres = np.array([[(SEAMS[k][1] - mu[0]) / sd[0], (SEAMS[k][2] - mu[1]) / sd[1]] for k in SEAMS])
    floor = rbf_mmd(held_z[:750], held_z[750:])

    gen, insp = Splitter(), Inspector()
    ema = Splitter()
    mx.eval(gen.parameters(), insp.parameters())
    ema.update(tree_map(lambda p: mx.array(p), gen.parameters()))
    opt_g = optim.Adam(learning_rate=5e-4, betas=[0.5, 0.999])
    opt_d = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
    d_vg = nn.value_and_grad(insp, inspector_loss)
    g_vg = nn.value_and_grad(gen, splitter_loss)

    eval_rng = np.random.default_rng(4)
    print("| step | D adv | G adv | info CE | MMD raw | MMD ema | real-vs-real | code purity % (ema) | seams hit (ema) | s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    hist = []
    t0 = time.perf_counter()
    marks = {1} | {STEPS * q // 4 for q in (1, 2, 3, 4)}
    for step in range(1, STEPS + 1):
        idx = mx.array(rng.integers(0, train.shape[0], size=BATCH))
        real = train[idx]
        codes_np = rng.integers(0, N_CODE, size=BATCH)
        codes = mx.array(codes_np)
        onehot = mx.array(np.eye(N_CODE, dtype=np.float32)[codes_np])
        noise = mx.array(rng.normal(size=(BATCH, N_NOISE)).astype(np.float32))

        fake = gen(noise, onehot)
        (_, (d_adv, d_info)), d_grads = d_vg(insp, real, fake, codes)
        opt_d.update(insp, d_grads)
        mx.eval(insp.parameters(), opt_d.state)

        (_, (g_adv, g_info)), g_grads = g_vg(gen, insp, noise, onehot, codes)
        opt_g.update(gen, g_grads)
        ema.update(tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p, ema.parameters(), gen.parameters()))
        mx.eval(gen.parameters(), opt_g.state, ema.parameters(), d_adv, g_adv, g_info)
        hist.append((d_adv.item(), g_adv.item(), g_info.item()))

        if step == 1:
            gn = {k: float(mx.sqrt(mx.sum(v * v)).item()) for k, v in tree_flatten(g_grads)}
            dn = {k: float(mx.sqrt(mx.sum(v * v)).item()) for k, v in tree_flatten(d_grads)}
            print(f"<!-- step 1 gradient leaves: splitter {sum(v > 0 for v in gn.values())}/{len(gn)}, "
                  f"inspector {sum(v > 0 for v in dn.values())}/{len(dn)} -->")
        if step in marks:
            w = np.array(hist[-60:])
            _, _, _, s_raw = code_report(gen, mu, sd, centres, np.random.default_rng(8))
            table, purity, hit, s_ema = code_report(ema, mu, sd, centres, np.random.default_rng(8))
            m_raw = rbf_mmd(s_raw[::3][:600], held_z[:600])
            m_ema = rbf_mmd(s_ema[::3][:600], held_z[:600])
            print(f"| {step} | {w[:, 0].mean():.3f} | {w[:, 1].mean():.3f} | {w[:, 2].mean():.3f} | "
                  f"{m_raw:.4f} | {m_ema:.4f} | {floor:.4f} | {100 * purity:.1f} | {hit}/3 | "
                  f"{time.perf_counter() - t0:.1f} |")

    print()
    print("code -> share of slates nearest each seam (ema splitter):")
    names = list(SEAMS)
    print("| code | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for c in range(N_CODE):
        print(f"| c{c} | " + " | ".join(f"{100 * v:.1f}%" for v in table[c]) + " |")
    noise = mx.array(eval_rng.normal(size=(3000, N_NOISE)).astype(np.float32))
    codes_np = eval_rng.integers(0, N_CODE, size=3000)
    x = np.array(ema(noise, mx.array(np.eye(N_CODE, dtype=np.float32)[codes_np]))) * sd + mu
    print(f"ema splitter: thickness median {10 ** np.median(x[:, 0]):.2f} mm (held-out {10 ** np.median(held[:, 0]):.2f} mm), "
          f"cleavage mean {x[:, 1].mean():.1f} deg (held-out {held[:, 1].mean():.1f} deg)")


if __name__ == "__main__":
    main()
