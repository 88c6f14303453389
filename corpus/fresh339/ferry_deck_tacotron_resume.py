"""Tiny attention TTS (Tacotron-style) for ferry deck announcements.

Phoneme encoder -> autoregressive decoder with content attention and teacher
forcing, predicting 12-band mel frames and a stop flag.  Loss = masked L1 on
mel + weighted stop BCE + guided-attention penalty (weight annealed to 0).
Training runs in two sessions: session 1 checkpoints weights, optimizer state
and step to disk; session 2 rebuilds everything from the checkpoint.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

N_PHONE, LMAX, FR, NMEL = 16, 9, 2, 12
TMAX = LMAX * FR
TEMPLATES = rng.normal(0, 1, (N_PHONE, NMEL)).astype(np.float32)
TEMPLATES[0] = 0.0


def make_set(n):
    txt = np.zeros((n, LMAX), np.int32)
    mel = np.zeros((n, TMAX, NMEL), np.float32)
    stop = np.zeros((n, TMAX), np.float32)
    fmask = np.zeros((n, TMAX), np.float32)
    tlen = np.zeros(n, np.int32)
    for i in range(n):
        L = rng.integers(5, LMAX + 1)
        seq = rng.integers(1, N_PHONE, size=L)
        txt[i, :L] = seq
        frames = np.repeat(TEMPLATES[seq], FR, axis=0)
        frames += rng.normal(0, 0.15, frames.shape)
        mel[i, :L * FR] = frames
        stop[i, L * FR - 1] = 1.0
        fmask[i, :L * FR] = 1.0
        tlen[i] = L
    return txt, mel, stop, fmask, tlen


class Encoder(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.emb = nn.Embedding(N_PHONE, d)
        self.mix = nn.Linear(3 * d, d)
        self.norm = nn.LayerNorm(d)

    def __call__(self, x):
        h = self.emb(x)
        z = mx.zeros_like(h[:, :1])
        left = mx.concatenate([z, h[:, :-1]], axis=1)
        right = mx.concatenate([h[:, 1:], z], axis=1)
        return h + nn.relu(self.norm(self.mix(mx.concatenate([left, h, right], axis=-1))))


class Speaker(nn.Module):
    def __init__(self, d=40):
        super().__init__()
        self.d = d
        self.enc = Encoder(d)
        self.prenet = nn.Linear(NMEL, d)
        self.cell = nn.Linear(3 * d, d)
        self.query = nn.Linear(d, d)
        self.out = nn.Linear(2 * d, NMEL)
        self.stop = nn.Linear(2 * d, 1)

    def __call__(self, txt, mel_in, tlen):
        mem = self.enc(txt)                                      # B, L, d
        tmask = mx.arange(LMAX)[None, :] < tlen[:, None]
        B = txt.shape[0]
        h = mx.zeros((B, self.d))
        ctx = mx.zeros((B, self.d))
        mels, stops, aligns = [], [], []
        for t in range(TMAX):
            prev = mel_in[:, t]
            p = nn.relu(self.prenet(prev))
            h = mx.tanh(self.cell(mx.concatenate([p, ctx, h], axis=-1)))
            q = self.query(h)
            s = (mem @ q[:, :, None])[..., 0] / np.sqrt(self.d)
            s = mx.where(tmask, s, -1e9)
            a = mx.softmax(s, axis=-1)
            ctx = (a[:, :, None] * mem).sum(1)
            o = mx.concatenate([h, ctx], axis=-1)
            mels.append(self.out(o))
            stops.append(self.stop(o)[:, 0])
            aligns.append(a)
        return mx.stack(mels, 1), mx.stack(stops, 1), mx.stack(aligns, 1)


def guide_matrix(tlen):
    n = np.arange(LMAX)[None, None, :] / np.maximum(tlen[:, None, None], 1)
    t = np.arange(TMAX)[None, :, None] / np.maximum(tlen[:, None, None] * FR, 1)
    return (1.0 - np.exp(-((n - t) ** 2) / (2 * 0.2 ** 2))).astype(np.float32)


def loss_fn(model, txt, mel, stop, fmask, tlen, guide, g_w):
    mel_in = mx.concatenate([mx.zeros_like(mel[:, :1]), mel[:, :-1]], axis=1)
    pm, ps, al = model(txt, mel_in, tlen)
    l1 = (mx.abs(pm - mel).mean(-1) * fmask).sum() / fmask.sum()
    bce = nn.losses.binary_cross_entropy(ps, stop, with_logits=True, reduction="none")
    bce = (bce * (1.0 + 7.0 * stop) * fmask).sum() / fmask.sum()
    ga = (al * guide * fmask[:, :, None]).sum() / fmask.sum()
    return l1 + bce + g_w * ga, (l1, bce, ga)


def to_mx(b):
    txt, mel, stop, fmask, tlen = b
    return (mx.array(txt), mx.array(mel), mx.array(stop), mx.array(fmask),
            mx.array(tlen), mx.array(guide_matrix(tlen)))


train = make_set(1200)
val = make_set(200)
val_mx = to_mx(val)
mean_frame = (train[1] * train[3][..., None]).sum((0, 1)) / train[3].sum()
base_l1 = (np.abs(val[1] - mean_frame).mean(-1) * val[3]).sum() / val[3].sum()
print(f"train {len(train[0])} utterances, val {len(val[0])}; mean-frame L1 baseline {base_l1:.3f}, "
      f"noise L1 floor {0.15 * np.sqrt(2 / np.pi):.3f}, chance alignment {np.mean(1 / val[4]):.3f}")

TOTAL, SPLIT, WARM, PEAK, BS = 400, 200, 20, 3e-3, 32


def lr_at(it):
    return PEAK * min(it / WARM, 1.0)


def g_weight(it):
    return max(0.0, 1.0 - it / 300)


def evaluate(model):
    txt, mel, stop, fmask, tlen, guide = val_mx
    l, (l1, bce, ga) = loss_fn(model, txt, mel, stop, fmask, tlen, guide, 0.0)
    mel_in = mx.concatenate([mx.zeros_like(mel[:, :1]), mel[:, :-1]], axis=1)
    _, ps, al = model(txt, mel_in, tlen)
    al = np.array(al)
    true_idx = np.arange(TMAX)[None, :] // FR
    fm = val[3] > 0
    diag = (al.argmax(-1) == true_idx)[fm].mean()
    first = np.array([np.argmax(np.append(r > 0, True)) for r in np.array(ps)])
    stop_ok = (first == val[4] * FR - 1).mean()
    return l1.item(), bce.item(), diag, stop_ok


def run_session(model, opt, start, stop_at, data_rng):
    lg = nn.value_and_grad(model, loss_fn)
    n = len(train[0])
    for it in range(start, stop_at):
        opt.learning_rate = lr_at(it)
        idx = data_rng.choice(n, BS, replace=False)
        b = to_mx(tuple(a[idx] for a in train))
        (loss, (l1, bce, ga)), g = lg(model, *b, g_weight(it))
        g, _ = optim.clip_grad_norm(g, 1.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 25 == 0 or it == stop_at - 1:
            print(f"it {it:4d} lr {lr_at(it):.2e} gw {g_weight(it):.2f} loss {loss.item():.4f} "
                  f"l1 {l1.item():.4f} stop {bce.item():.4f} guide {ga.item():.4f}")


t0 = time.time()
ckdir = tempfile.mkdtemp(prefix="ferry_tts_")
model = Speaker()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=0.0)
print("session 1")
run_session(model, opt, 0, SPLIT, np.random.default_rng(100))
l1, bce, diag, sok = evaluate(model)
print(f"  val after session 1: mel L1 {l1:.4f} stop bce {bce:.4f} align {diag:.3f} stop exact {sok:.3f}")
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"step": SPLIT}, f)
del model, opt

print("session 2")
model = Speaker()
model.load_weights(os.path.join(ckdir, "model.safetensors"))
opt = optim.Adam(learning_rate=0.0)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as f:
    start = json.load(f)["step"]
print(f"  restored step {start}, optimizer step {opt.state['step'].item()}")
run_session(model, opt, start, TOTAL, np.random.default_rng(200))
l1, bce, diag, sok = evaluate(model)
print(f"final val: mel L1 {l1:.4f} (mean-frame {base_l1:.3f}) stop bce {bce:.4f} "
      f"align {diag:.3f} stop exact {sok:.3f}")
print(f"time {time.time() - t0:.1f}s")
