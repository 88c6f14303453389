# Estuary field recordings: pull the harbour fog horn out of the surf noise.
# Magnitude-spectrogram masking: a small temporal conv net looks at log1p(|mix|)
# frames and predicts a [0,1] mask per frequency bin; estimate = mask * |mix|.
# Training objective is the negative spectral SDR (dB), so it is a negative
# number that goes further down as separation improves.
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

F, T = 32, 24
rng = np.random.default_rng(7)


def make_clips(n):
    bins = np.arange(F)[None, None, :]
    frames = np.arange(T)[None, :, None]
    f0 = rng.uniform(2.0, 4.5, size=(n, 1, 1))
    horn = np.zeros((n, T, F))
    for k in range(1, 7):
        amp = 1.0 / k ** 0.8
        horn += amp * np.exp(-0.5 * ((bins - k * f0) / 0.7) ** 2)
    onset = rng.integers(0, T // 2, size=(n, 1, 1))
    length = rng.integers(T // 3, T, size=(n, 1, 1))
    env = ((frames >= onset) & (frames < onset + length)).astype(float)
    env *= 0.6 + 0.4 * np.sin(frames / 3.0 + rng.uniform(0, 6, size=(n, 1, 1))) ** 2
    horn *= env * rng.uniform(0.6, 1.6, size=(n, 1, 1))
    tilt = np.exp(-bins / rng.uniform(8, 20, size=(n, 1, 1)))
    gust = 0.5 + np.abs(np.cumsum(rng.normal(0, 0.25, size=(n, T, 1)), axis=1))
    surf = tilt * gust * np.abs(rng.normal(0, 1.0, size=(n, T, F))) * rng.uniform(0.4, 1.2, size=(n, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, T, F))
    mix = np.sqrt(np.maximum(horn ** 2 + surf ** 2 + 2 * horn * surf * np.cos(phase), 0.0))
    return mix.astype(np.float32), horn.astype(np.float32), surf.astype(np.float32)


mix_tr, horn_tr, surf_tr = make_clips(3000)
mix_va, horn_va, surf_va = make_clips(400)


class MaskNet(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        self.c1 = nn.Conv1d(F, width, kernel_size=3, padding=1)
        self.c2 = nn.Conv1d(width, width, kernel_size=3, padding=1)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, F)

    def __call__(self, mag):
        h = mx.log1p(mag)
        h = nn.gelu(self.c1(h))
        h = h + nn.gelu(self.c2(self.norm(h)))
        return mx.sigmoid(self.head(h))


def spectral_sdr(est, ref):
    num = mx.sum(ref * ref, axis=(1, 2))
    den = mx.sum((ref - est) ** 2, axis=(1, 2)) + 1e-8
    return 10.0 * mx.log10(num / den + 1e-8)


def loss_fn(model, mix, ref):
    est = model(mix) * mix
    return -mx.mean(spectral_sdr(est, ref))


def val_sdr(model):
    m, r = mx.array(mix_va), mx.array(horn_va)
    return mx.mean(spectral_sdr(model(m) * m, r)).item()


# reference points on the held-out clips
m_va, h_va, s_va = mx.array(mix_va), mx.array(horn_va), mx.array(surf_va)
base_mix = mx.mean(spectral_sdr(m_va, h_va)).item()
irm = h_va / (h_va + s_va + 1e-8)
base_irm = mx.mean(spectral_sdr(irm * m_va, h_va)).item()
print(f"held-out SDR  mixture-as-estimate {base_mix:6.2f} dB   oracle ratio mask {base_irm:6.2f} dB")

TOTAL, WARM, BATCH, LR = 600, 80, 32, 3e-3
RESUME_AT = 300


def make_schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, LR, WARM), optim.cosine_decay(LR, TOTAL - WARM, 5e-5)],
        [WARM],
    )


def build():
    mx.random.seed(0)
    model = MaskNet()
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=1e-4)
    return model, opt


def train_span(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, loss_fn)
    order = np.random.default_rng(100 + start).permutation(len(mix_tr))
    pos = 0
    run = []
    for step in range(start, stop):
        if pos + BATCH > len(order):
            order = np.random.default_rng(step).permutation(len(mix_tr))
            pos = 0
        idx = order[pos:pos + BATCH]
        pos += BATCH
        loss, grads = step_fn(model, mx.array(mix_tr[idx]), mx.array(horn_tr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if (step + 1) % 50 == 0:
            lr = opt.learning_rate.item()
            print(f"step {step + 1:4d}  lr {lr:.2e}  train -SDR {np.mean(run):7.3f} dB  "
                  f"val SDR {val_sdr(model):6.2f} dB")
            run = []


t0 = time.time()
model, opt = build()
print(f"step    0  lr {opt.learning_rate.item():.2e}  val SDR {val_sdr(model):6.2f} dB (untrained)")
train_span(model, opt, 0, RESUME_AT)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "masknet.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {RESUME_AT}; restarting process state")
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckpt, "masknet.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
print(f"resumed: optimizer step {int(opt.state['step'].item())}  lr {opt.learning_rate.item():.2e}  "
      f"val SDR {val_sdr(model):6.2f} dB")
train_span(model, opt, RESUME_AT, TOTAL)

final = val_sdr(model)
print(f"final held-out SDR {final:6.2f} dB  (mixture {base_mix:6.2f}, oracle mask {base_irm:6.2f}, "
      f"gap to oracle {base_irm - final:5.2f} dB)  time {time.time() - t0:.1f}s")
