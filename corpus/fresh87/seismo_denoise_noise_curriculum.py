"""Seismograph trace denoiser (Conv1d, NLC), trained with a noise curriculum.

Noise levels are unlocked in three phases (0.1, then 0.1/0.3, then 0.1/0.3/0.6 mixed per trace),
so the training loss jumps up at each phase change before it falls again. lr warms up linearly from exactly 0.
"""
import logging
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s.%(msecs)03d seismo %(levelname)-5s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("seismo")

L = 128
rng = np.random.default_rng(7)


def make_traces(n):
    t = np.arange(L)[None, :]
    onset = rng.integers(10, 90, (n, 1))
    f = rng.uniform(0.08, 0.25, (n, 1))
    amp = rng.uniform(0.5, 1.5, (n, 1))
    decay = rng.uniform(0.03, 0.1, (n, 1))
    dt = np.clip(t - onset, 0, None)
    s = amp * np.sin(2 * np.pi * f * dt) * np.exp(-decay * dt) * (t >= onset)
    return s.astype(np.float32)


clean_tr, clean_va = make_traces(4000), make_traces(500)
noise_va = {lvl: rng.normal(0, lvl, clean_va.shape).astype(np.float32) for lvl in (0.1, 0.3, 0.6)}


class Denoiser(nn.Module):
    def __init__(self, ch=16, k=7):
        super().__init__()
        self.c1 = nn.Conv1d(1, ch, k, padding=k // 2)
        self.c2 = nn.Conv1d(ch, ch, k, padding=k // 2)
        self.c3 = nn.Conv1d(ch, 1, k, padding=k // 2)

    def __call__(self, x):          # x: (N, L) -> NLC
        h = x[..., None]
        h = nn.relu(self.c1(h))
        h = nn.relu(self.c2(h))
        return x + self.c3(h)[..., 0]   # predict a correction to the noisy trace


def loss_fn(model, noisy, clean):
    return nn.losses.mse_loss(model(noisy), clean)


def snr_db(model, lvl):
    noisy = mx.array(clean_va + noise_va[lvl])
    out = np.array(model(noisy))
    err = ((out - clean_va) ** 2).mean()
    return 10 * np.log10((clean_va ** 2).mean() / err)


mx.random.seed(3)
model = Denoiser()
mx.eval(model.parameters())
PHASES = [(0.1, 300), (0.3, 300), (0.6, 400)]
TOTAL = sum(s for _, s in PHASES)
WARM = 100
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                              optim.cosine_decay(2e-3, TOTAL - WARM, 1e-4)], [WARM])
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)
BS = 32
log.info("traces train=%d val=%d length=%d; output SNR in dB (HIGHER is better)", len(clean_tr), len(clean_va), L)
log.info("untrained val SNR: " + "  ".join("sigma=%.1f %.2f dB" % (l, snr_db(model, l)) for l in noise_va))
step, t0, window, unlocked = 0, time.time(), [], []
for lvl, nsteps in PHASES:
    unlocked.append(lvl)
    log.info("phase start: noise sigma up to %.1f (mix of %s) for %d steps", lvl, unlocked, nsteps)
    for _ in range(nsteps):
        idx = rng.integers(0, len(clean_tr), BS)
        clean = clean_tr[idx]
        # each trace gets one of the noise levels unlocked so far
        sig = rng.choice(unlocked, size=(BS, 1)).astype(np.float32)
        noisy = clean + sig * rng.normal(0, 1, clean.shape).astype(np.float32)
        loss, grads = vg(model, mx.array(noisy), mx.array(clean))
        if step == 0:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if not mx.any(g != 0).item()]
            log.info("first-step gradient: %d leaves, zero leaves %s, lr at this step %.1e",
                     len(leaves), zero, float(sched(mx.array(0))))
        lr_used = float(sched(mx.array(step)))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        window.append(loss.item())
        if step % 100 == 0:
            log.info("step %4d max_sigma=%.1f lr=%.2e train_mse=%.5f val_snr@max_sigma=%.2f dB  %.1fs",
                     step, lvl, lr_used, np.mean(window), snr_db(model, lvl), time.time() - t0)
            window = []
log.info("final val SNR: " + "  ".join("sigma=%.1f %.2f dB" % (l, snr_db(model, l)) for l in noise_va))
