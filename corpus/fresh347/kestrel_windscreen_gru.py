# Hearing-aid wind-noise suppression: a small GRU estimates a per-bin gain mask
# for 24-band log-energy frames of synthetic voiced speech buried in wind gusts.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

BANDS, FRAMES = 24, 40
rng = np.random.default_rng(7)

def make_clips(n):
    t = np.arange(FRAMES)[None, :, None]
    b = np.arange(BANDS)[None, None, :]
    f0 = rng.uniform(2.0, 5.0, (n, 1, 1))
    voiced = (np.sin(2 * np.pi * t / rng.uniform(8, 16, (n, 1, 1)) + rng.uniform(0, 6, (n, 1, 1))) > -0.2)
    harm = np.exp(-0.5 * ((b % f0) - 0.0) ** 2 / 0.4) * np.exp(-b / 14.0)
    speech = voiced * harm * rng.uniform(0.6, 1.4, (n, 1, 1))
    gust = np.abs(np.cumsum(rng.normal(0, 0.25, (n, FRAMES, 1)), axis=1)) + 0.2
    wind = gust * np.exp(-b / 4.0) * rng.uniform(0.5, 2.0, (n, 1, 1))
    noisy = speech + wind
    mask = speech / (noisy + 1e-6)
    return (np.log1p(noisy * 10).astype(np.float32), mask.astype(np.float32),
            speech.astype(np.float32), noisy.astype(np.float32))

Xtr, Mtr, _, _ = make_clips(1500)
Xva, Mva, Sva, Nva = make_clips(400)
Xtr, Mtr, Xva = mx.array(Xtr), mx.array(Mtr), mx.array(Xva)

class MaskGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(BANDS, 48)
        self.gru = nn.GRU(48, 48)
        self.out = nn.Linear(48, BANDS)
    def __call__(self, x):
        return mx.sigmoid(self.out(self.gru(nn.gelu(self.inp(x)))))

def loss_fn(model, x, m):
    return ((model(x) - m) ** 2).mean()

def snr_db(ref, est):
    return 10 * np.log10((ref ** 2).sum() / (((ref - est) ** 2).sum() + 1e-9))

def evaluate(model):
    g = np.array(model(Xva))
    return float(loss_fn(model, Xva, mx.array(Mva))), snr_db(Sva, g * Nva)

WARM, TOTAL_EPOCHS, BATCH = 30, 6, 50
steps_per_epoch = Xtr.shape[0] // BATCH
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-4, WARM),
     optim.cosine_decay(3e-4, TOTAL_EPOCHS * steps_per_epoch - WARM, 1e-5)], [WARM])

def build():
    mx.random.seed(0)
    model = MaskGRU()
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    return model, opt

ckpt_dir = tempfile.mkdtemp(prefix="windscreen_")
print("epoch;phase;lr_last;train_mse;valid_mse;snr_noisy_dB;snr_enh_dB;secs")
base_snr = snr_db(Sva, Nva)

def run_epochs(model, opt, first, last, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last + 1):
        t0 = time.time()
        perm = np.random.default_rng(ep).permutation(Xtr.shape[0])
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
            loss, grads = step_fn(model, Xtr[idx], Mtr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        vl, sn = evaluate(model)
        lr = float(opt.learning_rate)
        print(f"{ep};{tag};{lr:.2e};{tot/steps_per_epoch:.5f};{vl:.5f};{base_snr:.2f};{sn:.2f};{time.time()-t0:.1f}")

model, opt = build()
vl0, sn0 = evaluate(model)
print(f"0;untrained;0.00e+00;;{vl0:.5f};{base_snr:.2f};{sn0:.2f};0.0")
run_epochs(model, opt, 1, 3, "first")
model.save_weights(os.path.join(ckpt_dir, "w.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckpt_dir, "w.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
vl1, sn1 = evaluate(model)
print(f"3;resumed;{float(opt.learning_rate):.2e};;{vl1:.5f};{base_snr:.2f};{sn1:.2f};0.0")
run_epochs(model, opt, 4, TOTAL_EPOCHS, "resumed")
vlf, snf = evaluate(model)
print(f"done;snr gain over noisy input {snf - base_snr:+.2f} dB (untrained {sn0 - base_snr:+.2f} dB)")
