# VoIP packet-loss concealment: predict a lost 10 ms frame (80 samples @ 8 kHz)
# from the four frames received before it. Synthetic voiced speech.
import math, os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SR, FRAME, CTX = 8000, 80, 4
rng = np.random.default_rng(7)

def make_clips(n):
    t = np.arange((CTX + 1) * FRAME) / SR
    f0 = rng.uniform(90, 260, size=(n, 1)) * (1 + rng.uniform(-0.08, 0.08, size=(n, 1)) * t / t[-1])
    phase = 2 * np.pi * np.cumsum(np.broadcast_to(f0, (n, t.size)), axis=1) / SR
    formant = rng.uniform(400, 1400, size=(n, 1))
    x = np.zeros((n, t.size))
    for h in range(1, 9):
        amp = np.exp(-((h * f0 - formant) ** 2) / (2 * 350.0 ** 2)) / h
        x += amp * np.sin(h * phase + rng.uniform(0, 2 * np.pi, size=(n, 1)))
    x *= rng.uniform(0.3, 1.0, size=(n, 1))
    x += 0.01 * rng.standard_normal(x.shape)
    x /= np.abs(x).max(axis=1, keepdims=True) + 1e-6
    frames = x.reshape(n, CTX + 1, FRAME).astype(np.float32)
    return frames[:, :CTX], frames[:, CTX]

tr_ctx, tr_tgt = make_clips(4000)
va_ctx, va_tgt = make_clips(500)

class Concealer(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.inp = nn.Linear(FRAME, hidden)
        self.gru = nn.GRU(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden + FRAME, FRAME)
    def __call__(self, ctx):
        h = self.gru(nn.gelu(self.inp(ctx)))[:, -1]
        return self.out(mx.concatenate([self.norm(h), ctx[:, -1]], axis=-1))

def snr_db(ref, est):
    num = (ref ** 2).sum(axis=-1)
    den = ((ref - est) ** 2).sum(axis=-1) + 1e-8
    return float((10 * np.log10(num / den + 1e-12)).mean())

def loss_fn(model, c, y):
    return nn.losses.mse_loss(model(c), y)

TOTAL, WARM, BATCH, PEAK = 480, 80, 64, 3e-3
def make_sched():
    return optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM),
                                 optim.cosine_decay(PEAK, TOTAL - WARM, 1e-5)], [WARM])

# baselines on the validation set
va_c, va_y = mx.array(va_ctx), mx.array(va_tgt)
print(f"baseline zero-fill   SNR {snr_db(va_tgt, np.zeros_like(va_tgt)):6.2f} dB")
print(f"baseline repeat-last SNR {snr_db(va_tgt, va_ctx[:, -1]):6.2f} dB")

mx.random.seed(0)
model = Concealer()
opt = optim.AdamW(learning_rate=make_sched(), weight_decay=1e-4)
step_fn = nn.value_and_grad(model, loss_fn)
ckpt = tempfile.mkdtemp()
RESUME_AT = 240

def run(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = rng.integers(0, len(tr_ctx), BATCH)
        loss, grads = step_fn(model, mx.array(tr_ctx[idx]), mx.array(tr_tgt[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == stop - 1:
            lr = opt.learning_rate.item()
            pred = np.array(model(va_c))
            print(f"step {step:4d}  lr {lr:.2e}  train mse {loss.item():.5f}  "
                  f"val SNR {snr_db(va_tgt, pred):6.2f} dB")

run(model, opt, 0, RESUME_AT)
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {RESUME_AT}; restarting process state")

del model, opt
model = Concealer()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt = optim.AdamW(learning_rate=make_sched(), weight_decay=1e-4)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
print(f"resumed at optimizer step {opt.state['step'].item()}")
run(model, opt, RESUME_AT, TOTAL)

pred = np.array(model(va_c))
final = snr_db(va_tgt, pred)
print(f"final concealment SNR {final:.2f} dB vs repeat-last {snr_db(va_tgt, va_ctx[:, -1]):.2f} dB")
