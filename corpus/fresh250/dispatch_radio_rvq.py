# Dispatch-radio voice codec: a tiny residual-vector-quantized autoencoder for
# 64-sample audio frames. Stage A trains with one quantizer, stage B switches
# on the second residual quantizer. The run checkpoints after stage A and
# resumes from disk (weights + optimizer state) before stage B.
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

L, D, C = 64, 12, 32
rng = np.random.default_rng(11)


VOWELS = rng.uniform([250, 900, 2200], [800, 1800, 3200], (8, 3))
VOWEL_AMP = rng.uniform(0.2, 1.0, (8, 3))


def make_frames(n):
    t = np.arange(L)[None] / 8000.0
    v = rng.integers(0, 8, n)
    out = np.zeros((n, L))
    for j in range(3):  # three formant-like damped partials per frame
        f = VOWELS[v, j][:, None] * (1 + 0.03 * rng.standard_normal((n, 1)))
        a = VOWEL_AMP[v, j][:, None] * rng.uniform(0.7, 1.0, (n, 1))
        d = rng.uniform(40, 120, (n, 1))
        ph = 0.3 * rng.standard_normal((n, 1))
        out += a * np.exp(-d * t) * np.sin(2 * np.pi * f * t + ph)
    out += 0.02 * rng.standard_normal(out.shape)
    out /= np.abs(out).max(1, keepdims=True) + 1e-6
    return mx.array(out.astype(np.float32))


class RVQCodec(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(L, 128), nn.GELU(), nn.Linear(128, D))
        self.dec = nn.Sequential(nn.Linear(D, 128), nn.GELU(), nn.Linear(128, L))
        self.books = [mx.random.normal((C, D)) * 0.5, mx.random.normal((C, D)) * 0.1]

    def quantize(self, r, book):
        d = (r ** 2).sum(-1, keepdims=True) - 2 * r @ book.T + (book ** 2).sum(-1)
        idx = mx.stop_gradient(mx.argmin(d, axis=-1))
        return book[idx], idx

    def __call__(self, x, stages):
        z = self.enc(x)
        r, zq, aux, codes = z, mx.zeros_like(z), 0.0, []
        for s in range(stages):
            q, idx = self.quantize(r, self.books[s])
            aux = aux + ((mx.stop_gradient(r) - q) ** 2).mean() + 0.25 * ((r - mx.stop_gradient(q)) ** 2).mean()
            zq = zq + q
            r = r - mx.stop_gradient(q)
            codes.append(idx)
        zq_st = z + mx.stop_gradient(zq - z)  # straight-through
        return self.dec(zq_st), aux, codes


def snr_db(x, y):
    return (10 * mx.log10((x ** 2).sum() / ((x - y) ** 2).sum())).item()


def perplexity(idx):
    p = np.bincount(np.array(idx), minlength=C) / idx.size
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


train, valid = make_frames(20000), make_frames(2000)
print(f"frames: train {train.shape[0]} valid {valid.shape[0]} x {L} samples; codebooks 2 x {C} x {D}")
print(f"reference: zero output SNR 0.00 dB, mean-frame SNR {snr_db(valid, mx.broadcast_to(train.mean(0), valid.shape)):.2f} dB")

ckpt_dir = tempfile.mkdtemp(prefix="rvq_")
BS = 128


def run_stage(model, opt, stages, steps, start, label):
    def loss_fn(m, x):
        y, aux, _ = m(x, stages)
        return ((y - x) ** 2).mean() + aux
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, start + steps):
        x = train[mx.array(rng.integers(0, train.shape[0], BS))]
        loss, g = step_fn(model, x)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == start + steps - 1:
            y, _, codes = model(valid, stages)
            ppl = " ".join(f"{perplexity(c):.1f}" for c in codes)
            print(f"[{label}] step {step:4d} loss {loss.item():.4f}  valid SNR {snr_db(valid, y):6.2f} dB  code ppl {ppl}")


mx.random.seed(5)
t0 = time.time()
model = RVQCodec()
opt = optim.Adam(learning_rate=2e-3)
# seed codebook A from encoder outputs so no code starts dead
mx.eval(model.parameters())
model.books[0] = model.enc(train[:C])
run_stage(model, opt, stages=1, steps=400, start=0, label="A 1q")

model.save_weights(os.path.join(ckpt_dir, "codec.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written after step 399 to {ckpt_dir}")
del model, opt

model = RVQCodec()
model.load_weights(os.path.join(ckpt_dir, "codec.safetensors"))
opt = optim.Adam(learning_rate=2e-3)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
y, _, _ = model(valid, 1)
print(f"resumed: valid SNR with 1 quantizer {snr_db(valid, y):.2f} dB (step counter {opt.step.item()})")
# seed codebook B from the stage-A residuals
z = model.enc(train[:C])
q, _ = model.quantize(z, model.books[0])
model.books[1] = z - q
run_stage(model, opt, stages=2, steps=400, start=400, label="B 2q")
print(f"done in {time.time() - t0:.1f}s")
