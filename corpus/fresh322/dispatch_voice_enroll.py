"""Dispatcher voice enrollment: AM-softmax speaker embeddings from log-mel frames.

Synthetic voiced clips (8 kHz, 2048 samples) per radio dispatcher, log-mel features
computed with mx.fft, a small conv + transformer encoder, additive-margin softmax with
a staged margin, warmup-from-zero then cosine lr, and a mid-run checkpoint/resume.
Held-out dispatchers are scored by verification EER beside two baselines.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SR = 8000
N_SAMP = 2048
N_FFT = 256
HOP = 128
N_MELS = 32
EMB = 32
rng = np.random.default_rng(7)
mx.random.seed(7)


def make_speaker(r):
    return dict(
        f0=r.uniform(85, 230),
        formants=np.sort(r.uniform([300, 900, 2000], [800, 1900, 3200])),
        bw=r.uniform(80, 200, size=3),
        tilt=r.uniform(-1.5, -0.5),
        breath=r.uniform(0.01, 0.06),
    )


def render(spk, r):
    t = np.arange(N_SAMP) / SR
    f0 = spk["f0"] * r.uniform(0.92, 1.08)
    drift = 1.0 + r.uniform(-0.04, 0.04) * t / t[-1]
    shift = r.uniform(0.9, 1.1)
    fm = spk["formants"] * shift
    phase = 2 * np.pi * np.cumsum(f0 * drift) / SR
    x = np.zeros(N_SAMP)
    k = 1
    while k * f0 < SR / 2 - 200:
        fk = k * f0
        env = sum(np.exp(-0.5 * ((fk - f) / b) ** 2) for f, b in zip(fm, spk["bw"]))
        amp = (env + 0.02) * (k ** spk["tilt"])
        x += amp * np.sin(k * phase + r.uniform(0, 2 * np.pi))
        k += 1
    x += spk["breath"] * r.standard_normal(N_SAMP)
    x *= r.uniform(0.3, 1.5) / (np.abs(x).max() + 1e-6)
    return x.astype(np.float32)


def mel_filterbank():
    def hz2mel(f):
        return 2595 * np.log10(1 + f / 700)

    def mel2hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    pts = mel2hz(np.linspace(hz2mel(60), hz2mel(SR / 2), N_MELS + 2))
    bins = np.fft.rfftfreq(N_FFT, 1 / SR)
    fb = np.zeros((N_FFT // 2 + 1, N_MELS), np.float32)
    for m in range(N_MELS):
        lo, c, hi = pts[m], pts[m + 1], pts[m + 2]
        fb[:, m] = np.clip(np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)), 0, None)
    return mx.array(fb)


FB = mel_filterbank()
WIN = mx.array(np.hanning(N_FFT).astype(np.float32))


def log_mel(wav):  # (B, N_SAMP) -> (B, T, N_MELS)
    n_frames = 1 + (N_SAMP - N_FFT) // HOP
    idx = mx.arange(N_FFT)[None, :] + HOP * mx.arange(n_frames)[:, None]
    frames = wav[:, idx] * WIN
    power = mx.abs(mx.fft.rfft(frames, axis=-1)) ** 2
    return mx.log(power @ FB + 1e-6)


def build_set(speakers, per_spk, r):
    wavs, labels = [], []
    for i, s in enumerate(speakers):
        for _ in range(per_spk):
            wavs.append(render(s, r))
            labels.append(i)
    feats = []
    W = mx.array(np.stack(wavs))
    for j in range(0, W.shape[0], 256):
        feats.append(log_mel(W[j:j + 256]))
    X = mx.concatenate(feats)
    mu = X.mean(axis=(0, 1), keepdims=True)
    sd = X.std(axis=(0, 1), keepdims=True) + 1e-5
    return X, mx.array(np.array(labels, np.int32)), mu, sd


class Encoder(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.c1 = nn.Conv1d(N_MELS, d, 3, padding=1)
        self.c2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.enc = nn.TransformerEncoder(1, d, 4, mlp_dims=128)
        self.ln = nn.LayerNorm(d)
        self.proj = nn.Linear(d, EMB)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        T = h.shape[1]
        pos = mx.arange(T)[:, None] / (10000 ** (mx.arange(0, h.shape[2], 2) / h.shape[2]))
        pe = mx.concatenate([mx.sin(pos), mx.cos(pos)], axis=-1)
        h = self.enc(h + pe, None)
        e = self.proj(self.ln(h.mean(axis=1)))
        return e / (mx.linalg.norm(e, axis=-1, keepdims=True) + 1e-6)


class AMHead(nn.Module):
    def __init__(self, n_cls, scale=16.0):
        super().__init__()
        self.weight = mx.random.normal((n_cls, EMB)) * 0.1
        self.scale = scale

    def __call__(self, e):
        w = self.weight / (mx.linalg.norm(self.weight, axis=-1, keepdims=True) + 1e-6)
        return e @ w.T


class Net(nn.Module):
    def __init__(self, n_cls):
        super().__init__()
        self.encoder = Encoder()
        self.head = AMHead(n_cls)


def am_loss(net, x, y, margin):
    cos = net.head(net.encoder(x))
    onehot = mx.eye(cos.shape[1])[y]
    logits = net.head.scale * (cos - margin * onehot)
    return nn.losses.cross_entropy(logits, y, reduction="mean"), cos


def eer(emb, labels):
    e = np.array(emb)
    l = np.array(labels)
    sim = e @ e.T
    iu = np.triu_indices(len(l), 1)
    s = sim[iu]
    same = (l[:, None] == l[None, :])[iu]
    thr = np.sort(s)
    best = 1.0
    for t in thr[:: max(1, len(thr) // 400)]:
        far = np.mean(s[~same] >= t)
        frr = np.mean(s[same] < t)
        best = min(best, max(far, frr))
    return best


def main():
    t0 = time.time()
    train_spk = [make_speaker(rng) for _ in range(24)]
    test_spk = [make_speaker(rng) for _ in range(8)]
    Xtr, Ytr, mu, sd = build_set(train_spk, 40, rng)
    Xte, Yte, _, _ = build_set(test_spk, 12, rng)
    Xtr = (Xtr - mu) / sd
    Xte = (Xte - mu) / sd
    print(f"train clips {Xtr.shape[0]} x {Xtr.shape[1]} frames x {N_MELS} mels, "
          f"held-out clips {Xte.shape[0]} from {len(test_spk)} dispatchers")

    raw = Xte.mean(axis=1)
    raw = raw / mx.linalg.norm(raw, axis=-1, keepdims=True)
    base_eer = eer(raw, Yte)
    print(f"baselines: chance EER 0.500 | mean log-mel cosine EER {base_eer:.3f}")

    epochs, bs = 9, 32
    steps_per_epoch = Xtr.shape[0] // bs
    total = epochs * steps_per_epoch
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-4)],
        [warm],
    )
    margins = {1: 0.0, 4: 0.15, 7: 0.3}

    def fresh():
        n = Net(len(train_spk))
        o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
        return n, o

    net, opt = fresh()
    mx.eval(net.parameters())
    ckdir = tempfile.mkdtemp("_enroll")
    margin = 0.0
    step = 0
    for ep in range(1, epochs + 1):
        margin = margins.get(ep, margin)
        if ep == 6:
            wpath = os.path.join(ckdir, "model.safetensors")
            opath = os.path.join(ckdir, "optim.safetensors")
            net.save_weights(wpath)
            mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
            del net, opt
            net, opt = fresh()
            net.load_weights(wpath)
            opt.init(net.trainable_parameters())
            opt.state = tree_unflatten(list(mx.load(opath).items()))
            mx.eval(net.parameters(), opt.state)
            print(f"-- resumed from checkpoint: optimizer step {int(opt.step)}, "
                  f"lr {float(opt.learning_rate):.2e}")

        loss_and_grad = nn.value_and_grad(net, lambda n, x, y: am_loss(n, x, y, margin))
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot, correct = 0.0, 0
        for i in range(steps_per_epoch):
            ids = perm[i * bs:(i + 1) * bs]
            (loss, cos), g = loss_and_grad(net, Xtr[ids], Ytr[ids])
            opt.update(net, g)
            mx.eval(net.parameters(), opt.state, loss, cos)
            step += 1
            tot += loss.item()
            correct += int((cos.argmax(axis=1) == Ytr[ids]).sum().item())
            if step == 1 or step % 30 == 0:
                print(f"  step {step:3d} lr {float(opt.learning_rate):.2e} loss {loss.item():.4f}")
        emb = net.encoder(Xte)
        print(f"epoch {ep} margin {margin:.2f} train loss {tot / steps_per_epoch:.4f} "
              f"train acc {correct / (steps_per_epoch * bs):.3f} held-out EER {eer(emb, Yte):.3f}")

    final = eer(net.encoder(Xte), Yte)
    print(f"final held-out EER {final:.3f} (mean log-mel baseline {base_eer:.3f}, chance 0.500)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
