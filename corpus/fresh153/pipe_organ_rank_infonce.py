# Pipe organ stop matching: contrastive (InfoNCE) embedding of synthetic pipe spectra.
# Two "microphone takes" of the same pipe must land nearest each other.
# Frozen random front-end (on purpose), trainable projector, hand-written SGD+momentum,
# gradients averaged through mx.distributed (one process here), two-stage augmentation curriculum.
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

mx.random.seed(5)
group = mx.distributed.init()
WORLD = group.size()

N_BINS = 48
STOPS = {  # harmonic amplitude profiles (made-up) for 10 stop families
    "principal8": [1.0, 0.55, 0.35, 0.22, 0.14, 0.09, 0.06, 0.04],
    "flute8": [1.0, 0.12, 0.05, 0.02, 0.01, 0.0, 0.0, 0.0],
    "gedackt8": [1.0, 0.02, 0.30, 0.01, 0.12, 0.0, 0.05, 0.0],
    "trumpet8": [1.0, 0.90, 0.80, 0.70, 0.60, 0.50, 0.45, 0.40],
    "oboe8": [0.6, 1.0, 0.70, 0.50, 0.30, 0.20, 0.10, 0.05],
    "gamba8": [0.7, 0.80, 0.75, 0.65, 0.55, 0.40, 0.30, 0.20],
    "octave4": [0.3, 1.0, 0.20, 0.45, 0.10, 0.20, 0.05, 0.10],
    "nazard": [0.2, 0.1, 1.0, 0.10, 0.05, 0.30, 0.0, 0.0],
    "clarinet8": [1.0, 0.05, 0.75, 0.04, 0.50, 0.03, 0.30, 0.02],
    "mixture": [0.5, 0.6, 0.8, 1.0, 0.8, 0.7, 0.6, 0.6],
}
PROFILES = mx.array(list(STOPS.values()))  # (10, 8)


def pipes(n, key):
    """n distinct pipes: stop family, fundamental bin, voicing tweaks -> clean log-spectrum."""
    k1, k2, k3 = mx.random.split(key, 3)
    fam = mx.random.randint(0, PROFILES.shape[0], (n,), key=k1)
    f0 = mx.random.uniform(1.5, 6.0, (n,), key=k2)  # fundamental, in bins
    voicing = 1.0 + 0.35 * mx.random.normal((n, 8), key=k3)
    amps = PROFILES[fam] * mx.abs(voicing)
    bins = mx.arange(N_BINS).astype(mx.float32)
    h = mx.arange(1, 9).astype(mx.float32)
    centers = f0[:, None] * h[None, :]  # (n, 8)
    peaks = mx.exp(-0.5 * ((bins[None, None, :] - centers[:, :, None]) / 0.6) ** 2)
    spec = (amps[:, :, None] * peaks).sum(1)
    return spec


def take(spec, key, strength):
    """One microphone take: room gain, spectral tilt, hiss, a few dropped bins."""
    k1, k2, k3, k4 = mx.random.split(key, 4)
    n = spec.shape[0]
    gain = mx.exp(strength * 0.5 * mx.random.normal((n, 1), key=k1))
    tilt = 1.0 + strength * 0.4 * mx.random.normal((n, 1), key=k2) * mx.linspace(-1, 1, N_BINS)[None]
    hiss = strength * 0.08 * mx.abs(mx.random.normal(spec.shape, key=k3))
    keep = mx.random.bernoulli(1.0 - 0.15 * strength, spec.shape, key=k4)
    return mx.log1p(10.0 * (spec * gain * mx.maximum(tilt, 0.1) + hiss) * keep)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.frontend = nn.Linear(N_BINS, 96)  # random filterbank, kept frozen
        self.proj = nn.Sequential(nn.Linear(96, 96), nn.GELU(), nn.Linear(96, 32))

    def __call__(self, x):
        z = self.proj(mx.tanh(self.frontend(x)))
        return z / mx.linalg.norm(z, axis=-1, keepdims=True)


enc = Encoder()
enc.frontend.freeze()
mx.eval(enc.parameters())

TAU = 0.15


def info_nce(model, a, b):
    za, zb = model(a), model(b)
    logits = (za @ zb.T) / TAU
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


grad_fn = nn.value_and_grad(enc, info_nce)
velocity = tree_map(mx.zeros_like, enc.trainable_parameters())
LR, MOM, WD = 0.08, 0.9, 1e-4

# fixed held-out probe set: 256 pipes, one take each side, per stage strength
probe_spec = pipes(256, mx.random.key(999))


def recall_at_1(strength):
    a = take(probe_spec, mx.random.key(1001), strength)
    b = take(probe_spec, mx.random.key(1002), strength)
    sim = enc(a) @ enc(b).T
    hit = (mx.argmax(sim, axis=1) == mx.arange(256)).astype(mx.float32).mean()
    return 100.0 * hit.item()


def bar(frac, width=20):
    k = int(round(frac * width))
    return "#" * k + "." * (width - k)


STAGES = [("gentle takes", 0.5, 240), ("harsh room", 1.0, 240)]
key = mx.random.key(42)
t_all = time.time()
first_grad_norms = None
for s_idx, (s_name, strength, n_it) in enumerate(STAGES, 1):
    t0 = time.time()
    print(f"stage {s_idx}/{len(STAGES)} [{s_name}] strength={strength} "
          f"chance r@1={100/256:.2f}%  start r@1={recall_at_1(strength):.1f}%", flush=True)
    for it in range(1, n_it + 1):
        key, kp, ka, kb = mx.random.split(key, 4)
        spec = pipes(128, kp)
        va, vb = take(spec, ka, strength), take(spec, kb, strength)
        loss, grads = grad_fn(enc, va, vb)
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)
        if first_grad_norms is None:
            first_grad_norms = {k: mx.linalg.norm(v).item() for k, v in tree_flatten(grads)}
        params = enc.trainable_parameters()
        velocity = tree_map(lambda v, g, p: MOM * v + g + WD * p, velocity, grads, params)
        enc.update(tree_map(lambda p, v: p - LR * v, params, velocity))
        mx.eval(enc.parameters(), velocity, loss)
        if it % 30 == 0 or it == n_it:
            el = time.time() - t0
            r1 = recall_at_1(strength)
            sys.stdout.write(f"s{s_idx} {100*it/n_it:3.0f}%|{bar(it/n_it)}| {it}/{n_it} "
                             f"[{el:4.1f}s, {it/el:5.1f}it/s, nce={loss.item():.3f}, "
                             f"r@1={r1:.1f}%, log(B)={math.log(128):.3f}]\n")
            sys.stdout.flush()
    print(f"stage {s_idx} done: r@1 {recall_at_1(strength):.1f}% on held-out pipes", flush=True)

print("audit: grad norms at step 1 ->", ", ".join(f"{k}={v:.2e}" for k, v in first_grad_norms.items()))
print(f"audit: frontend params trainable={len(tree_flatten(enc.frontend.trainable_parameters()))} "
      f"(frozen on purpose), world={WORLD}, total {time.time()-t_all:.1f}s")
