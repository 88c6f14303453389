"""Harbour tannoy cleanup: spectral-mask speech enhancement.

Synthetic 'announcer' signals (harmonic stacks with a wandering pitch and a
syllable envelope) mixed with noise. Frames: 32 magnitude bins of a 64-point
STFT. A small MLP sees 5 neighbouring noisy log-magnitude frames and predicts
a [0,1] gain for the centre frame.

The training objective is the NEGATIVE of the frame signal-to-error ratio (pooled over the batch) in
dB (so the number printed is negative and falls as the mask improves).
Stage A: stationary engine noise. Stage B: the same model is fine-tuned on
harder 'crowd babble' noise, so the objective jumps up at the stage switch.
Only a few lines are printed per stage (quiet stretches are normal).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

NFFT, HOP, NB, CTX = 64, 32, 32, 5
rng = np.random.default_rng(2970)
mx.random.seed(2970)
win = np.hanning(NFFT).astype(np.float32)


def speech(n):
    t = np.arange(n) / 8000.0
    f0 = 140 + 30 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t + rng.uniform(0, 6))
    ph = 2 * np.pi * np.cumsum(f0) / 8000.0
    s = sum((0.7 ** k) * np.sin(k * ph) for k in range(1, 9))
    env = np.clip(np.sin(2 * np.pi * rng.uniform(2.5, 4.5) * t + rng.uniform(0, 6)), 0, None) ** 1.5
    return (s * env * rng.uniform(0.3, 1.0)).astype(np.float32)


def engine(n):
    t = np.arange(n) / 8000.0
    x = 0.3 * np.sin(2 * np.pi * rng.uniform(40, 60) * t) + rng.normal(0, 0.25, n)
    return np.convolve(x, np.ones(4) / 4, mode="same").astype(np.float32)


def babble(n):
    return sum(0.45 * speech(n) for _ in range(3)) + rng.normal(0, 0.1, n).astype(np.float32)


def stft_mag(x):
    nfr = (len(x) - NFFT) // HOP + 1
    fr = np.stack([x[i * HOP:i * HOP + NFFT] * win for i in range(nfr)])
    return np.abs(np.fft.rfft(fr, axis=1))[:, :NB].astype(np.float32)


def make(n_clips, noise_fn):
    Xs, Ns, Cs = [], [], []
    for _ in range(n_clips):
        n = 4000
        s, v = speech(n), noise_fn(n)
        S, M = stft_mag(s), stft_mag(s + v)
        L = np.log(M + 1e-3)
        pad = np.pad(L, ((CTX // 2, CTX // 2), (0, 0)), mode="edge")
        Xs.append(np.stack([pad[i:i + CTX].ravel() for i in range(len(L))]))
        Ns.append(M)
        Cs.append(S)
    return [np.concatenate(a).astype(np.float32) for a in (Xs, Ns, Cs)]


class MaskNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(NB * CTX, 96)
        self.l2 = nn.Linear(96, 96)
        self.l3 = nn.Linear(96, NB)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return mx.sigmoid(self.l3(h))


def neg_ser_db(model, x, noisy, clean):
    est = model(x) * noisy
    num = mx.sum(clean ** 2) + 1e-4
    den = mx.sum((est - clean) ** 2) + 1e-4
    return -10.0 * mx.log10(num / den)


def ser_of(est, clean):
    num = np.sum(clean ** 2) + 1e-4
    den = np.sum((est - clean) ** 2) + 1e-4
    return float(10 * np.log10(num / den))


t0 = time.time()
stages = {"A engine": make(120, engine), "B babble": make(120, babble)}
vals = {"A engine": make(40, engine), "B babble": make(40, babble)}
allX = np.concatenate([stages[k][0] for k in stages])
mu, sd = allX.mean(0), allX.std(0) + 1e-5
for d in (stages, vals):
    for k in d:
        d[k][0] = (d[k][0] - mu) / sd
print(f"frames: A {len(stages['A engine'][0])}, B {len(stages['B babble'][0])}  ({time.time() - t0:.1f}s)")

for k in vals:
    _, nv, cv = vals[k]
    print(f"baseline [{k}] unprocessed SER {ser_of(nv, cv):+.2f} dB | "
          f"oracle ratio-mask SER {ser_of(np.clip(cv / (nv + 1e-6), 0, 1) * nv, cv):+.2f} dB")

model = MaskNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, neg_ser_db)
BATCH = 512


def evaluate(key):
    xv, nv, cv = vals[key]
    est = np.array(model(mx.array(xv))) * nv
    return ser_of(est, cv)


plan = [("A engine", 6, 2e-3), ("B babble", 6, 1e-3)]
for key, epochs, peak in plan:
    X, N, C = stages[key]
    nb = len(X) // BATCH
    opt = optim.AdamW(learning_rate=optim.cosine_decay(peak, epochs * nb, peak * 0.05), weight_decay=1e-4)
    print(f"--- stage {key}: {epochs} epochs x {nb} batches, peak lr {peak}")
    for ep in range(epochs):
        perm = rng.permutation(len(X))
        tot = 0.0
        for b in range(nb):
            i = perm[b * BATCH:(b + 1) * BATCH]
            loss, g = loss_and_grad(model, mx.array(X[i]), mx.array(N[i]), mx.array(C[i]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if ep in (0, epochs // 2, epochs - 1):
            print(f"  [{key}] epoch {ep + 1:2d} objective (-SER dB) {tot / nb:+.3f} | "
                  f"val SER A {evaluate('A engine'):+.2f} dB  B {evaluate('B babble'):+.2f} dB")

print(f"final: val SER engine {evaluate('A engine'):+.2f} dB, babble {evaluate('B babble'):+.2f} dB "
      f"({time.time() - t0:.1f}s)")
