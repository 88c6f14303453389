# Foghorn tone synthesis: a pitch-conditioned waveform generator trained
# adversarially (least-squares GAN on log spectra) plus a spectral
# reconstruction term, with a save / reload of the whole session half way.
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

N = 64            # samples per frame
Z = 8
HARM = np.array([1.0, 0.55, 0.3])
NOISE = 0.02


def real_frames(pitch):
    """pitch in [0,1] -> f0 between 3 and 8 cycles per frame."""
    f0 = 3 + 5 * pitch
    t = np.arange(N) / N
    ph = rng.uniform(0, 2 * np.pi, size=(len(pitch), 3))
    x = np.zeros((len(pitch), N))
    for h in range(3):
        x += HARM[h] * np.sin(2 * np.pi * (h + 1) * f0[:, None] * t + ph[:, h : h + 1])
    x *= 0.5 * np.exp(-0.8 * t)
    x += rng.normal(0, NOISE, size=x.shape)
    return x.astype(np.float32)


WIN = mx.array(np.hanning(N).astype(np.float32))


def logspec(x):
    return mx.log(mx.abs(mx.fft.rfft(x * WIN)) + 1e-3)


class Generator(nn.Module):
    def __init__(self, h=128):
        super().__init__()
        self.l1 = nn.Linear(Z + 1, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, N)

    def __call__(self, z, pitch):
        x = mx.concatenate([z, pitch[:, None]], axis=-1)
        x = nn.leaky_relu(self.l1(x), 0.2)
        x = nn.leaky_relu(self.l2(x), 0.2)
        return 0.8 * mx.tanh(self.out(x))


class Critic(nn.Module):
    def __init__(self, h=128):
        super().__init__()
        self.l1 = nn.Linear(N // 2 + 2, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x, pitch):
        s = mx.concatenate([logspec(x), pitch[:, None]], axis=-1)
        s = nn.leaky_relu(self.l1(s), 0.2)
        s = nn.leaky_relu(self.l2(s), 0.2)
        return self.out(s).squeeze(-1)


def d_loss(D, real, fake, pitch):
    return 0.5 * (((D(real, pitch) - 1) ** 2).mean() + (D(fake, pitch) ** 2).mean())


def g_loss(G, D, z, pitch, real, lam):
    fake = G(z, pitch)
    adv = 0.5 * ((D(fake, pitch) - 1) ** 2).mean()
    spec = mx.abs(logspec(fake) - logspec(real)).mean()
    return adv + lam * spec, (adv, spec)


# evaluation: log-spectral distance to the noise-free harmonic template,
# averaged over random phases, on a set pitch grid
eval_pitch = np.linspace(0.05, 0.95, 10).astype(np.float32)


def template_logspec(p, reps=16):
    global rng
    keep = rng
    rng = np.random.default_rng(123)
    frames = real_frames(np.repeat(p, reps))
    rng = keep
    return logspec(mx.array(frames)).reshape(len(p), reps, -1).mean(axis=1)


REF = template_logspec(eval_pitch)


def lsd(frames_fn):
    pit = mx.array(np.repeat(eval_pitch, 16))
    spec = logspec(frames_fn(pit)).reshape(len(eval_pitch), 16, -1).mean(axis=1)
    return mx.sqrt(((spec - REF) ** 2).mean()).item()


noise_rms = float(np.sqrt((real_frames(np.full(256, 0.5)) ** 2).mean()))
white = lambda pit: mx.random.normal((pit.shape[0], N)) * noise_rms
lsd_white = lsd(white)
lsd_real = lsd(lambda pit: mx.array(real_frames(np.array(pit))))
print(f"reference LSD: white noise {lsd_white:.3f} | fresh real frames {lsd_real:.3f}")

BATCH = 64
TOTAL = 500
SAVE_AT = 250
LAM = 5.0


def build():
    G, D = Generator(), Critic()
    mx.eval(G.parameters(), D.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 50), optim.cosine_decay(2e-3, TOTAL - 50, 1e-4)], [50])
    og = optim.Adam(learning_rate=sched, betas=[0.5, 0.9])
    od = optim.Adam(learning_rate=2e-4, betas=[0.5, 0.9])
    return G, D, og, od


def save_session(path, G, D, og, od, step):
    G.save_weights(os.path.join(path, "g.safetensors"))
    D.save_weights(os.path.join(path, "d.safetensors"))
    mx.save_safetensors(os.path.join(path, "og.safetensors"), dict(tree_flatten(og.state)))
    mx.save_safetensors(os.path.join(path, "od.safetensors"), dict(tree_flatten(od.state)))
    np.save(os.path.join(path, "rng.npy"), np.array([step]))
    with open(os.path.join(path, "rng_state.txt"), "w") as f:
        f.write(repr(rng.bit_generator.state))


def load_session(path):
    G, D, og, od = build()
    G.load_weights(os.path.join(path, "g.safetensors"))
    D.load_weights(os.path.join(path, "d.safetensors"))
    og.state = tree_unflatten(list(mx.load(os.path.join(path, "og.safetensors")).items()))
    od.state = tree_unflatten(list(mx.load(os.path.join(path, "od.safetensors")).items()))
    with open(os.path.join(path, "rng_state.txt")) as f:
        rng.bit_generator.state = eval(f.read())
    step = int(np.load(os.path.join(path, "rng.npy"))[0])
    return G, D, og, od, step


def run(G, D, og, od, start, stop):
    d_grad = nn.value_and_grad(D, d_loss)
    g_grad = nn.value_and_grad(G, g_loss)
    for step in range(start, stop):
        pitch_np = rng.uniform(0, 1, BATCH).astype(np.float32)
        real = mx.array(real_frames(pitch_np))
        pitch = mx.array(pitch_np)
        z = mx.random.normal((BATCH, Z))
        fake = mx.stop_gradient(G(z, pitch))
        ld, gd = d_grad(D, real, fake, pitch)
        od.update(D, gd)
        (lg, (adv, spec)), gg = g_grad(G, D, z, pitch, real, LAM)
        og.update(G, gg)
        mx.eval(G.parameters(), D.parameters(), og.state, od.state)
        if step % 50 == 0 or step == stop - 1:
            print(f"step {step:3d} lr_g {og.learning_rate.item():.2e} d_loss {ld.item():.4f} "
                  f"g_adv {adv.item():.4f} g_spec {spec.item():.4f} g_total {lg.item():.4f}")
        if step % 125 == 0 or step == stop - 1:
            z_eval = lambda pit: G(mx.random.normal((pit.shape[0], Z)), pit)
            print(f"   eval step {step}: LSD {lsd(z_eval):.3f} (white {lsd_white:.3f}, real {lsd_real:.3f})")


t0 = time.time()
G, D, og, od = build()
run(G, D, og, od, 0, SAVE_AT)
with tempfile.TemporaryDirectory() as tmp:
    save_session(tmp, G, D, og, od, SAVE_AT)
    del G, D, og, od
    print(f"session saved at step {SAVE_AT}; reloading into fresh objects")
    G, D, og, od, start = load_session(tmp)
print(f"resumed at step {start}, generator lr now {og.learning_rate.item():.2e}")
run(G, D, og, od, start, TOTAL)
print(f"done in {time.time() - t0:.1f}s")
