"""Unpaired day -> dusk translation of harbour-camera tiles (CycleGAN, LSGAN).

Two unpaired piles of 8x8 grey tiles: "day" frames with bright buoy lights on a
dark sea, and "dusk" frames from other moments, where the exposure is inverted and
compressed. The hidden per-pixel rendering (dusk = -0.8 * day + 0.1) is only used
for scoring.  Generators are small conv nets with instance norm, critics are
PatchGAN-style LSGAN heads, fakes shown to the critics come from an image pool,
and the learning rate follows the usual CycleGAN policy: constant for the first
half, then a straight line down to zero on the very last step.
"""
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 7
H = W = 8
BATCH = 16
STEPS = 500
LR = 2e-3
LAMBDA_CYC = 2.0
POOL_SIZE = 32
LOG_EVERY = 50
EVAL_EVERY = 125

mx.random.seed(SEED)
rng = np.random.default_rng(SEED)
random.seed(SEED)


def buoy_frames(n):
    """Dark sea (-1) with one or two soft bright lights."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = np.full((n, H, W), -1.0, dtype=np.float32)
    for i in range(n):
        for _ in range(rng.integers(1, 3)):
            cy, cx = rng.uniform(1, H - 2), rng.uniform(1, W - 2)
            s = rng.uniform(0.8, 1.6)
            out[i] += 2.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    out += rng.normal(0, 0.03, size=out.shape).astype(np.float32)
    return np.clip(out, -1.0, 1.0)[..., None]


def to_dusk(day):
    return -0.8 * day + 0.1


# Unpaired training piles: the dusk pile is rendered from *different* day frames.
train_day = mx.array(buoy_frames(512))
train_dusk = mx.array(to_dusk(buoy_frames(512)))
# Scoring set: day frames with their hidden dusk rendering.
val_day_np = buoy_frames(128)
val_day = mx.array(val_day_np)
val_dusk_true = mx.array(to_dusk(val_day_np))


class Translator(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.c1 = nn.Conv2d(1, ch, 3, padding=1)
        self.n1 = nn.InstanceNorm(ch, affine=True)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.n2 = nn.InstanceNorm(ch, affine=True)
        self.c3 = nn.Conv2d(ch, 1, 3, padding=1)

    def __call__(self, x):
        h = nn.relu(self.n1(self.c1(x)))
        h = h + nn.relu(self.n2(self.c2(h)))
        return mx.tanh(self.c3(h))


class PatchCritic(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.c1 = nn.Conv2d(1, ch, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(2 * ch, 1, 3, padding=1)

    def __call__(self, x):
        h = nn.leaky_relu(self.c1(x), 0.2)
        h = nn.leaky_relu(self.c2(h), 0.2)
        return self.c3(h)  # (B, 2, 2, 1) patch scores


class GenPair(nn.Module):
    def __init__(self):
        super().__init__()
        self.day_to_dusk = Translator()
        self.dusk_to_day = Translator()


class CriticPair(nn.Module):
    def __init__(self):
        super().__init__()
        self.day = PatchCritic()
        self.dusk = PatchCritic()


class ImagePool:
    """History of generated images; half of each batch shown to a critic is old."""

    def __init__(self, size):
        self.size = size
        self.images = []

    def query(self, batch):
        out = []
        for img in batch:
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif random.random() < 0.5:
                j = random.randrange(self.size)
                out.append(self.images[j])
                self.images[j] = img
            else:
                out.append(img)
        return mx.stack(out)


def lsgan(pred, target):
    return mx.mean((pred - target) ** 2)


gens = GenPair()
crits = CriticPair()
mx.eval(gens.parameters(), crits.parameters())


def cycle_schedule(base, steps):
    half = steps // 2
    return optim.join_schedules(
        [lambda _: mx.array(base), optim.linear_schedule(base, 0.0, steps - half - 1)],
        [half],
    )


opt_g = optim.Adam(learning_rate=cycle_schedule(LR, STEPS), betas=[0.5, 0.999])
opt_d = optim.Adam(learning_rate=cycle_schedule(LR, STEPS), betas=[0.5, 0.999])


def gen_loss(g, day, dusk):
    fake_dusk = g.day_to_dusk(day)
    fake_day = g.dusk_to_day(dusk)
    adv = lsgan(crits.dusk(fake_dusk), 1.0) + lsgan(crits.day(fake_day), 1.0)
    cyc = mx.mean(mx.abs(g.dusk_to_day(fake_dusk) - day)) + mx.mean(
        mx.abs(g.day_to_dusk(fake_day) - dusk)
    )
    return adv + LAMBDA_CYC * cyc, (adv, cyc, fake_dusk, fake_day)


def crit_loss(c, day, dusk, pooled_day, pooled_dusk):
    l_day = 0.5 * (lsgan(c.day(day), 1.0) + lsgan(c.day(pooled_day), 0.0))
    l_dusk = 0.5 * (lsgan(c.dusk(dusk), 1.0) + lsgan(c.dusk(pooled_dusk), 0.0))
    return l_day + l_dusk, (l_day, l_dusk)


gen_step = nn.value_and_grad(gens, gen_loss)
crit_step = nn.value_and_grad(crits, crit_loss)
pool_day, pool_dusk = ImagePool(POOL_SIZE), ImagePool(POOL_SIZE)


def evaluate():
    pred = gens.day_to_dusk(val_day)
    back = gens.dusk_to_day(pred)
    mae = mx.mean(mx.abs(pred - val_dusk_true)).item()
    rec = mx.mean(mx.abs(back - val_day)).item()
    return mae, rec


ident_mae = mx.mean(mx.abs(val_day - val_dusk_true)).item()
mean_img = mx.mean(train_dusk, axis=0, keepdims=True)
mean_mae = mx.mean(mx.abs(mean_img - val_dusk_true)).item()
print(f"scoring baselines  copy-day-as-dusk MAE={ident_mae:.4f}  mean-dusk-frame MAE={mean_mae:.4f}")
mae0, rec0 = evaluate()
print(f"step    0  translation MAE={mae0:.4f}  round-trip MAE={rec0:.4f}")

t0 = time.time()
acc = {"adv": 0.0, "cyc": 0.0, "d_day": 0.0, "d_dusk": 0.0}
for step in range(1, STEPS + 1):
    i1 = mx.array(rng.integers(0, train_day.shape[0], size=BATCH))
    i2 = mx.array(rng.integers(0, train_dusk.shape[0], size=BATCH))
    day, dusk = train_day[i1], train_dusk[i2]

    lr_now = opt_g.learning_rate.item()
    (g_total, (adv, cyc, fake_dusk, fake_day)), g_grads = gen_step(gens, day, dusk)
    opt_g.update(gens, g_grads)
    mx.eval(gens.parameters(), opt_g.state, adv, cyc, fake_dusk, fake_day)

    pooled_day = pool_day.query(mx.stop_gradient(fake_day))
    pooled_dusk = pool_dusk.query(mx.stop_gradient(fake_dusk))
    (d_total, (l_day, l_dusk)), d_grads = crit_step(crits, day, dusk, pooled_day, pooled_dusk)
    opt_d.update(crits, d_grads)
    mx.eval(crits.parameters(), opt_d.state, l_day, l_dusk)

    acc["adv"] += adv.item()
    acc["cyc"] += cyc.item()
    acc["d_day"] += l_day.item()
    acc["d_dusk"] += l_dusk.item()
    if step % LOG_EVERY == 0:
        k = LOG_EVERY
        print(
            f"step {step:4d}  lr={lr_now:.2e}  G_adv={acc['adv']/k:.4f}  cycle_L1={acc['cyc']/k:.4f}  "
            f"D_day={acc['d_day']/k:.4f}  D_dusk={acc['d_dusk']/k:.4f}"
        )
        acc = {key: 0.0 for key in acc}
    if step % EVAL_EVERY == 0:
        mae, rec = evaluate()
        print(
            f"  eval step {step}: translation MAE={mae:.4f} (copy baseline {ident_mae:.4f}, "
            f"mean baseline {mean_mae:.4f})  round-trip MAE={rec:.4f}"
        )

mae, rec = evaluate()
print(f"final lr={opt_g.learning_rate.item():.2e}  elapsed {time.time() - t0:.1f}s")
print(f"final translation MAE={mae:.4f}  vs copy baseline {ident_mae:.4f}  vs mean baseline {mean_mae:.4f}")
print(f"final round-trip MAE={rec:.4f}")
print("result:", "translation beats both baselines" if mae < 0.5 * min(ident_mae, mean_mae) else "translation did not beat baselines")
