"""Tide-gauge chart thumbnails -> short captions, Flamingo-style.

Phase A: a tiny causal LM learns the caption grammar from text alone.
Phase B: the LM and a random patch tower stay frozen; a perceiver resampler and a
tanh-gated cross-attention layer (gate starts at exactly 0) are trained, with a
fresh AdamW whose learning rate ramps up from 0. Halfway through phase B the
trainable weights are written to disk, the model is rebuilt and training resumes.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

G, P = 4, 4                      # 4x4 patches of 4x4 pixels
LEVELS, TRENDS = 4, 3
BOS, W_LEVEL, W_TREND, EOS = 0, 1, 2, 3
LVL0 = 4
TRD0 = LVL0 + LEVELS
VOCAB = TRD0 + TRENDS
DIM = 48


def sample(rng, n):
    lvl = rng.integers(0, LEVELS, n)
    trd = rng.integers(0, TRENDS, n)
    base = 0.15 + 0.2 * lvl
    slope = np.array([-0.25, 0.0, 0.25])[trd]
    xs = np.linspace(-1, 1, G * P)
    img = base[:, None, None] + slope[:, None, None] * xs[None, None, :]
    img = np.broadcast_to(img, (n, G * P, G * P)) + rng.normal(0, 0.05, (n, G * P, G * P))
    patches = img.reshape(n, G, P, G, P).transpose(0, 1, 3, 2, 4).reshape(n, G * G, P * P)
    cap = np.stack([np.full(n, BOS), np.full(n, W_LEVEL), LVL0 + lvl,
                    np.full(n, W_TREND), TRD0 + trd, np.full(n, EOS)], axis=1)
    return mx.array(patches.astype(np.float32)), mx.array(cap[:, :-1]), mx.array(cap[:, 1:])


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(8, DIM)
        self.block = nn.TransformerEncoderLayer(DIM, 4, 4 * DIM, norm_first=True)
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)


class Resampler(nn.Module):
    def __init__(self, n_latents=4):
        super().__init__()
        self.latents = mx.random.normal((n_latents, DIM)) * 0.02
        self.inp = nn.Linear(DIM, DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)

    def __call__(self, feats):
        lat = mx.broadcast_to(self.latents, (feats.shape[0],) + self.latents.shape)
        return lat + self.attn(lat, self.inp(feats), self.inp(feats))


class GatedXAttn(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)
        self.ff = nn.Sequential(nn.LayerNorm(DIM), nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))
        self.attn_gate = mx.zeros((1,))
        self.ff_gate = mx.zeros((1,))

    def __call__(self, x, vis):
        h = self.norm(x)
        x = x + mx.tanh(self.attn_gate) * self.attn(h, vis, vis)
        return x + mx.tanh(self.ff_gate) * self.ff(x)


class GaugeCaptioner(nn.Module):
    def __init__(self):
        super().__init__()
        self.lm = LM()
        self.tower = nn.Sequential(nn.Linear(P * P, DIM), nn.GELU(), nn.Linear(DIM, DIM))
        self.resampler = Resampler()
        self.xattn = GatedXAttn()

    def __call__(self, tokens, patches=None):
        T = tokens.shape[1]
        x = self.lm.embed(tokens) + self.lm.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        x = self.lm.block(x, mask)
        if patches is not None:
            x = self.xattn(x, self.resampler(self.tower(patches)))
        return self.lm.head(self.lm.norm(x))


def ce(model, toks, tgt, patches=None):
    return nn.losses.cross_entropy(model(toks, patches), tgt, reduction="mean")


def content_acc(model, toks, tgt, patches=None):
    pred = mx.argmax(model(toks, patches), axis=-1)
    return (pred[:, [1, 3]] == tgt[:, [1, 3]]).astype(mx.float32).mean().item()


def phase_b_model(lm_weights):
    m = GaugeCaptioner()
    m.load_weights(lm_weights, strict=False)
    m.lm.freeze()
    m.tower.freeze()
    return m


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    vp, vt, vy = sample(np.random.default_rng(99), 256)
    workdir = tempfile.mkdtemp(prefix="gauge_")
    t0 = time.time()

    # ---- phase A: text-only grammar ----
    model = GaugeCaptioner()
    opt = optim.Adam(learning_rate=3e-3)
    step = nn.value_and_grad(model, lambda m, t, y: ce(m, t, y))
    for it in range(1, 101):
        _, toks, tgt = sample(rng, 64)
        loss, g = step(model, toks, tgt)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if it % 50 == 0:
            print(f"[A] it {it:3d}  text loss {loss.item():.3f}", flush=True)
    blind = content_acc(model, vt, vy)
    blind_loss = ce(model, vt, vy).item()
    print(f"[A] done  val loss {blind_loss:.3f}  level/trend acc {blind*100:.1f}% "
          f"(chance {100*(1/LEVELS+1/TRENDS)/2:.1f}%)", flush=True)
    lm_path = os.path.join(workdir, "lm.safetensors")
    model.save_weights(lm_path)

    # ---- phase B: gated cross-attention, resumed halfway ----
    total, warm, half = 240, 40, 120
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                                  optim.cosine_decay(3e-3, total - warm, 1.5e-4)], [warm])
    model = phase_b_model(lm_path)
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"[B] trainable params {n_train}  (lm + tower frozen)", flush=True)
    step = nn.value_and_grad(model, ce)
    it = 0
    while it < total:
        it += 1
        p, toks, tgt = sample(rng, 64)
        loss, g = step(model, toks, tgt, p)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if it == 1 or it % 30 == 0:
            acc = content_acc(model, vt, vy, vp)
            print(f"[B] it {it:3d}  loss {loss.item():.3f}  lr {opt.learning_rate.item():.2e}  "
                  f"gates attn {mx.tanh(model.xattn.attn_gate).item():+.3f} ff {mx.tanh(model.xattn.ff_gate).item():+.3f}  "
                  f"val acc {acc*100:5.1f}% (text-only {blind*100:.1f}%)", flush=True)
        if it == half:
            ck = os.path.join(workdir, "adapter.safetensors")
            trainable = dict(tree_flatten(model.trainable_parameters()))
            mx.save_safetensors(ck, trainable)
            state = dict(tree_flatten(opt.state))
            mx.save_safetensors(os.path.join(workdir, "opt.safetensors"),
                                {k: v for k, v in state.items() if isinstance(v, mx.array)})
            model = phase_b_model(lm_path)
            model.load_weights(ck, strict=False)
            opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
            opt.init(model.trainable_parameters())
            from mlx.utils import tree_unflatten
            saved = mx.load(os.path.join(workdir, "opt.safetensors"))
            opt.state = tree_unflatten(list(saved.items()))
            step = nn.value_and_grad(model, ce)
            print(f"[B] checkpoint at it {it}, rebuilt model and resumed", flush=True)
    final = content_acc(model, vt, vy, vp)
    final_loss = ce(model, vt, vy, vp).item()
    print(f"final: val loss {final_loss:.3f} (text-only {blind_loss:.3f})  "
          f"level/trend acc {final*100:.1f}% (text-only {blind*100:.1f}%)  {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
