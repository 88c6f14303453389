# Pitch tracker for organ-pipe voicing: frames of synthetic pipe tone -> semitone estimate.
# Heteroscedastic Gaussian NLL (mean + log-variance head), so the loss goes below zero once
# the model is confident. Linear warmup from lr 0, checkpoint at mid-run, resume, finish.
import math, os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SR, N = 8000, 256
rng = np.random.default_rng(7)

def render(n):
    semis = rng.uniform(0.0, 24.0, n)                       # A3 .. A5
    f0 = 220.0 * 2 ** (semis / 12)
    t = np.arange(N) / SR
    ph = rng.uniform(0, 2 * np.pi, (n, 1))
    wave = np.zeros((n, N))
    for h, a in [(1, 1.0), (2, 0.5), (3, 0.3), (4, 0.15)]:
        wave += a * rng.uniform(0.6, 1.4, (n, 1)) * np.sin(2 * np.pi * h * f0[:, None] * t + h * ph)
    wave += rng.normal(0, 0.25, wave.shape)                   # wind noise
    spec = np.abs(np.fft.rfft(wave * np.hanning(N), axis=1))[:, :96]
    feat = np.log1p(spec)
    feat = (feat - feat.mean(1, keepdims=True)) / (feat.std(1, keepdims=True) + 1e-6)
    return feat.astype(np.float32), semis.astype(np.float32)

Xtr, ytr = render(6000)
Xva, yva = render(1000)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))

class PitchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(96, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU())
        self.mu = nn.Linear(128, 1)
        self.logvar = nn.Linear(128, 1)
    def __call__(self, x):
        h = self.body(x)
        return self.mu(h)[:, 0] + 12.0, mx.clip(self.logvar(h)[:, 0], -8.0, 6.0)

def nll(model, x, y):
    mu, lv = model(x)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv)))

TOTAL, WARM, BS = 1200, 200, 128
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                              optim.cosine_decay(2e-3, TOTAL - WARM, 1e-5)], [WARM])

def build():
    mx.random.seed(0)
    m = PitchNet(); mx.eval(m.parameters())
    return m, optim.Adam(learning_rate=sched)

def evaluate(model):
    mu, lv = model(Xva)
    mae = mx.mean(mx.abs(mu - yva)).item()
    cents_ok = mx.mean((mx.abs(mu - yva) < 0.5).astype(mx.float32)).item()
    return nll(model, Xva, yva).item(), mae, cents_ok

base_mae = mx.mean(mx.abs(yva - mx.mean(ytr))).item()
print(f"baseline (predict mean pitch): val MAE {base_mae:.3f} semitones")

def run(model, opt, start, stop, ckpt=None):
    step_fn = nn.value_and_grad(model, nll)
    order = np.random.default_rng(start).permutation
    for step in range(start, stop):
        idx = mx.array(order(Xtr.shape[0])[:BS])
        loss, g = step_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, g); mx.eval(model.parameters(), opt.state)
        if step % 100 == 0 or step == stop - 1:
            vl, mae, ok = evaluate(model)
            print(f"step {step:5d} lr {opt.learning_rate.item():.2e} train_nll {loss.item():+.3f} "
                  f"val_nll {vl:+.3f} val_MAE {mae:.3f} within_50c {ok:.3f}")
    if ckpt:
        model.save_weights(ckpt + ".safetensors")
        mx.save_safetensors(ckpt + ".opt.safetensors", dict(tree_flatten(opt.state)))

with tempfile.TemporaryDirectory() as d:
    ck = os.path.join(d, "voicing")
    m, o = build()
    run(m, o, 0, TOTAL // 2, ckpt=ck)
    print("-- checkpoint written, reloading into a fresh process state --")
    m2, o2 = build()
    m2.load_weights(ck + ".safetensors")
    from mlx.utils import tree_unflatten
    o2.init(m2.trainable_parameters())
    o2.state = tree_unflatten(list(mx.load(ck + ".opt.safetensors").items()))
    print(f"resumed at step {o2.state['step'].item()} val {evaluate(m2)}")
    run(m2, o2, TOTAL // 2, TOTAL)
    vl, mae, ok = evaluate(m2)
    print(f"final: val_nll {vl:+.3f} val_MAE {mae:.3f} semitones (baseline {base_mae:.3f}) within_50c {ok:.3f}")
