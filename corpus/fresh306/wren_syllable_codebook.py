"""Birdsong syllable tokenizer: a small VQ autoencoder over 16-bin syllable spectra.

Codebook vectors are moved by an exponential moving average of the encoder
outputs assigned to them (not by the optimizer).  Stage 2 keeps the encoder and
codebook as they are and only retunes the decoder.
"""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3)
mx.random.seed(3)
N_BINS, N_TYPES, K, D = 16, 6, 16, 4


def make_songs(n):
    protos = np.stack([np.exp(-0.5 * ((np.arange(N_BINS) - c) / w) ** 2)
                       for c, w in [(2, 1.0), (5, 1.5), (8, 1.0), (10, 2.5), (12, 1.0), (14, 1.5)]])
    kind = rng.integers(0, N_TYPES, n)
    gain = rng.uniform(0.6, 1.4, (n, 1))
    shift = rng.integers(-1, 2, n)
    x = np.stack([np.roll(protos[k], s) for k, s in zip(kind, shift)]) * gain
    x = x + 0.05 * rng.standard_normal(x.shape)
    return x.astype(np.float32), kind


xtr, _ = make_songs(4000)
xva, kva = make_songs(800)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr = mx.array((xtr - mu) / sd)
xva = mx.array((xva - mu) / sd)


class SyllableVQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(N_BINS, 48), nn.SiLU(), nn.Linear(48, D))
        self.decoder = nn.Sequential(nn.Linear(D, 48), nn.SiLU(), nn.Linear(48, N_BINS))
        self._codebook = mx.zeros((K, D))
        self._ema_n = mx.ones((K,))
        self._ema_w = mx.zeros((K, D))

    def assign(self, z):
        d = (z * z).sum(-1, keepdims=True) - 2 * z @ self._codebook.T + (self._codebook ** 2).sum(-1)
        return mx.argmin(mx.stop_gradient(d), axis=-1)

    def __call__(self, x):
        z = self.encoder(x)
        idx = self.assign(z)
        q = self._codebook[idx]
        zq = z + mx.stop_gradient(q - z)
        return self.decoder(zq), z, q, idx

    def ema_update(self, z, idx, decay=0.95, eps=1e-3):
        onehot = (idx[:, None] == mx.arange(K)[None, :]).astype(mx.float32)
        self._ema_n = decay * self._ema_n + (1 - decay) * onehot.sum(0)
        self._ema_w = decay * self._ema_w + (1 - decay) * (onehot.T @ z)
        total = self._ema_n.sum()
        n = (self._ema_n + eps) / (total + K * eps) * total
        self._codebook = self._ema_w / n[:, None]


def loss_fn(model, x):
    xr, z, q, idx = model(x)
    recon = mx.mean((xr - x) ** 2)
    commit = mx.mean((z - mx.stop_gradient(q)) ** 2)
    return recon + 0.25 * commit, (recon, commit, z, idx)


def perplexity(idx):
    counts = np.bincount(np.array(idx), minlength=K).astype(np.float64)
    p = counts / counts.sum()
    ent = -(p[p > 0] * np.log(p[p > 0])).sum()
    return math.exp(ent), int((counts > 0).sum())


def evaluate(model):
    xr, z, q, idx = model(xva)
    return mx.mean((xr - xva) ** 2).item(), idx


model = SyllableVQ()
mx.eval(model.parameters())
init_pick = mx.array(rng.choice(xtr.shape[0], K, replace=False))
model._codebook = model.encoder(xtr[init_pick])
model._ema_w = model._codebook * model._ema_n[:, None]
mx.eval(model._codebook, model._ema_w)

print(f"# syllables train={xtr.shape[0]} val={xva.shape[0]} bins={N_BINS} codes={K} dim={D}")
print(f"# predict-the-mean val recon = {mx.mean(xva ** 2).item():.4f} (standardised units)")
print(f"# trainable tensors: {len(tree_flatten(model.trainable_parameters()))} (codebook is not one of them)")
print("stage,step,lr,recon,commit,val_recon,perplexity,codes_used,secs")

grad_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()


def run_stage(stage, steps, peak_lr, warm, move_codebook):
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak_lr, warm), optim.cosine_decay(peak_lr, steps - warm, 1e-4)], [warm])
    opt = optim.Adam(learning_rate=sched)
    for step in range(steps):
        lr_now = sched(opt.step).item()
        pick = mx.array(rng.integers(0, xtr.shape[0], 128))
        xb = xtr[pick]
        (loss, (recon, commit, z, idx)), grads = grad_fn(model, xb)
        opt.update(model, grads)
        if move_codebook:
            model.ema_update(mx.stop_gradient(z), idx)
        mx.eval(model.parameters(), opt.state, model._codebook, model._ema_n, model._ema_w)
        if step % 50 == 0 or step == steps - 1:
            vr, vidx = evaluate(model)
            ppl, used = perplexity(vidx)
            print(f"{stage},{step},{lr_now:.2e},{recon.item():.4f},{commit.item():.4f},{vr:.4f},{ppl:.2f},{used}/{K},{time.time() - t0:.1f}", flush=True)


run_stage(1, 600, 3e-3, 80, move_codebook=True)

enc_before = [v for _, v in tree_flatten(model.encoder.parameters())]
code_before = model._codebook
model.encoder.freeze()
print(f"# stage 2: encoder frozen, codebook held; trainable tensors now {len(tree_flatten(model.trainable_parameters()))}")
run_stage(2, 250, 1e-3, 40, move_codebook=False)

drift = max(mx.max(mx.abs(a - b)).item() for a, b in zip(enc_before, [v for _, v in tree_flatten(model.encoder.parameters())]))
cdrift = mx.max(mx.abs(code_before - model._codebook)).item()
vr, vidx = evaluate(model)
ppl, used = perplexity(vidx)
codes = np.array(vidx)
purity = sum(np.bincount(kva[codes == c]).max() for c in np.unique(codes)) / len(codes)
print(f"# encoder drift in stage 2 = {drift:.1e}, codebook drift = {cdrift:.1e}")
print(f"# final val recon {vr:.4f} | perplexity {ppl:.2f} of {K} | syllable-type purity of codes {100 * purity:.1f}% (chance {100 / N_TYPES:.1f}%)")
