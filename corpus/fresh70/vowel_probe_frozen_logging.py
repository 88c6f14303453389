"""Vowel identification from speaker-normalised spectral envelopes.

Stage 1: denoising autoencoder pretrained on unlabelled envelopes.
Stage 2: encoder frozen, a small classifier head trained on the few labelled
         examples, learning rate warmed up from 0.
"""
import logging, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO)
log_pre = logging.getLogger("vowel.pretrain")
log_probe = logging.getLogger("vowel.probe")

rng = np.random.default_rng(7)
NB = 40  # spectral bins, 0..4 kHz
freqs = np.linspace(100, 4000, NB)
VOWELS = {"i": (280, 2250), "e": (400, 1900), "a": (750, 1200),
          "o": (450, 800), "u": (310, 870)}
names = list(VOWELS)

def envelopes(n):
    lab = rng.integers(0, 5, n)
    scale = rng.uniform(0.85, 1.2, n)          # vocal tract length
    out = np.empty((n, NB), np.float32)
    for k in range(n):
        f1, f2 = VOWELS[names[lab[k]]]
        f1 *= scale[k] * rng.normal(1, 0.05); f2 *= scale[k] * rng.normal(1, 0.05)
        f3 = 2600 * scale[k]
        env = (np.exp(-((freqs - f1) / 90) ** 2) + 0.7 * np.exp(-((freqs - f2) / 130) ** 2)
               + 0.3 * np.exp(-((freqs - f3) / 200) ** 2) + 0.15 * np.exp(-freqs / 1500))
        out[k] = np.log(env + 0.02) + rng.normal(0, 0.12, NB)
    return out, lab.astype(np.int32)

t0 = time.time()
X_unl, _ = envelopes(12000)
X_lab, y_lab = envelopes(300)      # few labels
X_te, y_te = envelopes(1500)
mu, sd = X_unl.mean(0), X_unl.std(0) + 1e-6
norm = lambda a: mx.array((a - mu) / sd)
X_unl, X_lab, X_te = norm(X_unl), norm(X_lab), norm(X_te)
y_lab, y_te = mx.array(y_lab), mx.array(y_te)

class DAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(NB, 64), nn.GELU(), nn.Linear(64, 8))
        self.decoder = nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, NB))
    def __call__(self, x):
        return self.decoder(self.encoder(x))

class Probe(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 5))
    def __call__(self, x):
        return self.head(self.encoder(x))

mx.random.seed(3)
dae = DAE()
opt = optim.Adam(learning_rate=2e-3)
def dae_loss(m, x):
    noisy = x + 0.5 * mx.random.normal(x.shape)
    return nn.losses.mse_loss(m(noisy), x)
dae_step = nn.value_and_grad(dae, dae_loss)

for ep in range(1, 13):
    perm = mx.array(rng.permutation(X_unl.shape[0]))
    tot = 0.0; nb = 0
    for i in range(0, X_unl.shape[0] - 127, 128):
        loss, g = dae_step(dae, X_unl[perm[i:i + 128]])
        opt.update(dae, g)
        mx.eval(dae.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    log_pre.info("epoch %d reconstruction_mse %.4f", ep, tot / nb)

# ---- stage 2: frozen encoder, linear-warmup head ----
probe = Probe(dae.encoder)
probe.encoder.freeze()
enc_before = [np.array(v) for _, v in tree_flatten(probe.encoder.parameters())]
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 150), optim.cosine_decay(3e-3, 850, 1e-4)], [150])
popt = optim.Adam(learning_rate=sched)
def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")
probe_step = nn.value_and_grad(probe, ce)

def evaluate():
    logits = probe(X_te)
    return ce(probe, X_te, y_te).item(), (logits.argmax(1) == y_te).mean().item()

l0, a0 = evaluate()
log_probe.info("trainable leaves: %s (encoder frozen: %d leaves)",
               [k for k, _ in tree_flatten(probe.trainable_parameters())],
               len(enc_before))
log_probe.info("before training: test_ce %.3f test_err %.3f (chance err 0.800)", l0, 1 - a0)

first = True
window = []
for step in range(1, 1001):
    idx = mx.array(rng.integers(0, X_lab.shape[0], 32))
    loss, g = probe_step(probe, X_lab[idx], y_lab[idx])
    if first:
        gl = tree_flatten(g)
        nz = sum(int(mx.any(v != 0).item()) for _, v in gl)
        log_probe.info("step 1 gradient leaves %d, non-zero %d, lr %.2e", len(gl), nz, popt.learning_rate.item())
        first = False
    popt.update(probe, g)
    mx.eval(probe.parameters(), popt.state, loss)
    window.append(loss.item())
    if step in (1, 25, 50, 100, 150) or step % 200 == 0:
        tl, ta = evaluate()
        log_probe.info("step %4d lr %.2e train_ce(win) %.3f test_ce %.3f test_err %.3f",
                       step, popt.learning_rate.item(), sum(window) / len(window), tl, 1 - ta)
        window = []

enc_after = [np.array(v) for _, v in tree_flatten(probe.encoder.parameters())]
drift = max(float(np.abs(a - b).max()) for a, b in zip(enc_before, enc_after))
log_probe.info("encoder max abs change %.1e (frozen), wall %.1fs", drift, time.time() - t0)
