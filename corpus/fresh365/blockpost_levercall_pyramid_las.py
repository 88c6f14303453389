"""Signal box lever calls: a tiny Listen-Attend-Spell recogniser.

A signalman calls out 2-4 lever numbers ("seven, one, four") over a noisy box
telephone.  Clips are synthetic 16-band filterbank frames; each digit word has
its own spectral trajectory, speakers add a spectral tilt, and word lengths and
pauses vary, so clips are right-padded to 32 frames.

Model: pyramidal BiLSTM listener (32 -> 16 -> 8 frames) and an LSTM speller
with location-aware attention (a conv over the previous attention weights).
Training is in two stages with a checkpoint/resume in between:
  stage 1: teacher forcing, Adam, lr warm-up from exactly 0
  stage 2: scheduled sampling (the speller is fed its own argmax with rising
           probability), so the train loss goes up on purpose.
Greedy and beam-search lever error rates are printed beside trivial baselines.
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

SOS, EOS, NTOK = 10, 11, 12
NB, TMAX, MAXOUT = 16, 32, 5


def make_clips(n, rng, templates):
    feats = np.zeros((n, TMAX, NB), np.float32)
    lens = np.zeros(n, np.int32)
    tin = np.full((n, MAXOUT), EOS, np.int32)
    tout = np.full((n, MAXOUT), EOS, np.int32)
    tmask = np.zeros((n, MAXOUT), np.float32)
    refs = []
    for i in range(n):
        k = int(rng.integers(2, 5))
        digits = rng.integers(0, 10, k)
        tilt = rng.normal(0, 0.3, NB)
        t = int(rng.integers(1, 3))
        for d in digits:
            dur = int(rng.integers(4, 7))
            pos = np.linspace(0, 3, dur)
            lo = np.floor(pos).astype(int)
            hi = np.minimum(lo + 1, 3)
            w = (pos - lo)[:, None]
            feats[i, t:t + dur] = (1 - w) * templates[d, lo] + w * templates[d, hi] + tilt
            t += dur + 1
        L = min(t, TMAX)
        feats[i, :L] += rng.normal(0, 0.35, (L, NB))
        lens[i] = L
        tin[i, 0] = SOS
        tin[i, 1:k + 1] = digits
        tout[i, :k] = digits
        tout[i, k] = EOS
        tmask[i, :k + 1] = 1.0
        refs.append([int(x) for x in digits])
    return feats, lens, tin, tout, tmask, refs


class BiLSTM(nn.Module):
    def __init__(self, din, h):
        super().__init__()
        self.fw = nn.LSTM(din, h)
        self.bw = nn.LSTM(din, h)

    def __call__(self, x):
        hf, _ = self.fw(x)
        hb, _ = self.bw(x[:, ::-1, :])
        return mx.concatenate([hf, hb[:, ::-1, :]], axis=-1)


def pyramid(h):
    B, T, D = h.shape
    return h.reshape(B, T // 2, 2 * D)


class Listener(nn.Module):
    def __init__(self, h=32):
        super().__init__()
        self.inp = nn.Linear(NB, 32)
        self.l1 = BiLSTM(32, h)
        self.l2 = BiLSTM(4 * h, h)
        self.l3 = BiLSTM(4 * h, h)

    def __call__(self, x):
        x = nn.gelu(self.inp(x))
        x = pyramid(self.l1(x))
        x = pyramid(self.l2(x))
        return self.l3(x)  # (B, TMAX/4, 2h)


class LocationAttention(nn.Module):
    def __init__(self, denc, ddec, da=48, nf=6, k=5):
        super().__init__()
        self.q = nn.Linear(ddec, da, bias=False)
        self.kproj = nn.Linear(denc, da)
        self.loc = nn.Linear(nf, da, bias=False)
        self.conv = nn.Conv1d(1, nf, k, padding=k // 2)
        self.v = nn.Linear(da, 1)

    def __call__(self, s, enc, keys, prev, mask):
        f = self.loc(self.conv(prev[..., None]))
        e = self.v(mx.tanh(keys + self.q(s)[:, None, :] + f)).squeeze(-1)
        e = mx.where(mask, e, -1e9)
        a = mx.softmax(e, axis=-1)
        return (a[..., None] * enc).sum(axis=1), a


class Speller(nn.Module):
    def __init__(self, denc=64, h=64):
        super().__init__()
        self.emb = nn.Embedding(NTOK, 32)
        self.rnn = nn.LSTM(32 + denc, h)
        self.attn = LocationAttention(denc, h)
        self.out = nn.Linear(h + denc, NTOK)

    def step(self, y_prev, ctx, h, c, enc, keys, prev_a, mask):
        x = mx.concatenate([self.emb(y_prev), ctx], axis=-1)[:, None, :]
        hs, cs = self.rnn(x, h, c)
        h, c = hs[:, -1], cs[:, -1]
        ctx, a = self.attn(h, enc, keys, prev_a, mask)
        return self.out(mx.concatenate([h, ctx], axis=-1)), ctx, h, c, a


class LAS(nn.Module):
    def __init__(self):
        super().__init__()
        self.listener = Listener()
        self.speller = Speller()

    def encode(self, x, lens):
        enc = self.listener(x)
        Te = enc.shape[1]
        elen = (lens + 3) // 4
        mask = mx.arange(Te)[None, :] < elen[:, None]
        keys = self.speller.attn.kproj(enc)
        a0 = mask.astype(mx.float32) / elen[:, None].astype(mx.float32)
        return enc, keys, mask, a0


def loss_fn(model, x, lens, tin, tout, tmask, feed_own):
    enc, keys, mask, a = model.encode(x, lens)
    B = x.shape[0]
    ctx = mx.zeros((B, enc.shape[-1]))
    h = c = None
    y_prev = tin[:, 0]
    total = mx.array(0.0)
    for t in range(MAXOUT):
        logits, ctx, h, c, a = model.speller.step(y_prev, ctx, h, c, enc, keys, a, mask)
        ce = nn.losses.cross_entropy(logits, tout[:, t], label_smoothing=0.1, reduction="none")
        total = total + (ce * tmask[:, t]).sum()
        if t + 1 < MAXOUT:
            own = mx.stop_gradient(mx.argmax(logits, axis=-1)).astype(mx.int32)
            y_prev = mx.where(feed_own[:, t + 1], own, tin[:, t + 1])
    return total / tmask.sum()


def greedy(model, x, lens):
    enc, keys, mask, a = model.encode(x, lens)
    B = x.shape[0]
    ctx = mx.zeros((B, enc.shape[-1]))
    h = c = None
    y = mx.full((B,), SOS, dtype=mx.int32)
    outs = []
    for _ in range(MAXOUT):
        logits, ctx, h, c, a = model.speller.step(y, ctx, h, c, enc, keys, a, mask)
        y = mx.argmax(logits, axis=-1).astype(mx.int32)
        outs.append(y)
    seqs = np.array(mx.stack(outs, axis=1))
    hyps = []
    for row in seqs:
        hyp = []
        for tok in row:
            if tok == EOS:
                break
            if tok < 10:
                hyp.append(int(tok))
        hyps.append(hyp)
    return hyps


def beam_one(model, x1, len1, width=3):
    enc, keys, mask, a = model.encode(x1[None], mx.array([len1]))
    beams = [([], 0.0, mx.zeros((1, enc.shape[-1])), None, None, a, False)]
    for _ in range(MAXOUT):
        cand = []
        for seq, score, ctx, h, c, a_prev, done in beams:
            if done:
                cand.append((seq, score, ctx, h, c, a_prev, True))
                continue
            y = mx.array([seq[-1] if seq else SOS], dtype=mx.int32)
            logits, ctx2, h2, c2, a2 = model.speller.step(y, ctx, h, c, enc, keys, a_prev, mask)
            lp = np.array(nn.log_softmax(logits, axis=-1))[0]
            for tok in np.argsort(-lp)[:width]:
                tok = int(tok)
                if tok == SOS:
                    continue
                cand.append((seq + [tok], score + float(lp[tok]), ctx2, h2, c2, a2, tok == EOS))
        cand.sort(key=lambda b: -b[1])
        beams = cand[:width]
        if all(b[6] for b in beams):
            break
    best = beams[0][0]
    return [t for t in best if t < 10]


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev = cur
    return d[len(b)]


def error_rate(hyps, refs):
    return 100.0 * sum(edit_distance(r, h) for h, r in zip(hyps, refs)) / sum(len(r) for r in refs)


def save_checkpoint(model, opt, folder, step):
    model.save_weights(os.path.join(folder, "las.safetensors"))
    mx.save_safetensors(os.path.join(folder, "opt.safetensors"), dict(tree_flatten(opt.state)),
                        metadata={"step": str(step)})


def load_checkpoint(folder, schedule):
    model = LAS()
    model.load_weights(os.path.join(folder, "las.safetensors"))
    opt = optim.Adam(learning_rate=schedule)
    state, meta = mx.load(os.path.join(folder, "opt.safetensors"), return_metadata=True)
    opt.state = tree_unflatten(list(state.items()))
    return model, opt, int(meta["step"])


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    templates = rng.normal(0, 1.0, (10, 4, NB)).astype(np.float32)
    Xtr, Ltr, Itr, Otr, Mtr, Rtr = make_clips(576, rng, templates)
    Xva, Lva, Iva, Ova, Mva, Rva = make_clips(128, rng, templates)
    xva, lva = mx.array(Xva), mx.array(Lva)

    B, EPOCHS, STAGE1 = 32, 7, 4
    steps_per_epoch = len(Xtr) // B
    total = EPOCHS * steps_per_epoch
    warm = 30
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-4)], [warm])

    model = LAS()
    opt = optim.Adam(learning_rate=schedule)
    mx.eval(model.parameters())
    nparams = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"params {nparams}  train clips {len(Xtr)}  val clips {len(Xva)}  steps {total}")

    # baselines on the validation calls
    print(f"baseline  empty hypothesis      LER {error_rate([[] for _ in Rva], Rva):6.1f}%")
    flat = [d for r in Rtr for d in r]
    common = int(np.bincount(flat, minlength=10).argmax())
    print(f"baseline  constant '{common}{common}{common}'        LER {error_rate([[common] * 3 for _ in Rva], Rva):6.1f}%")
    print(f"untrained greedy                LER {error_rate(greedy(model, xva, lva), Rva):6.1f}%")

    train_step = make_step(model, opt)
    ckpt_dir = tempfile.mkdtemp()
    step = 0
    epoch = 0
    while epoch < EPOCHS:
        epoch += 1
        if epoch <= STAGE1:
            p_own = 0.0
        else:
            p_own = 0.1 + 0.3 * (epoch - STAGE1 - 1) / (EPOCHS - STAGE1 - 1)
        perm = rng.permutation(len(Xtr))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * B:(b + 1) * B]
            feed_own = mx.array(rng.random((B, MAXOUT)) < p_own)
            lr_now = float(schedule(mx.array(step)))
            loss, gnorm = train_step(mx.array(Xtr[idx]), mx.array(Ltr[idx]), mx.array(Itr[idx]),
                                     mx.array(Otr[idx]), mx.array(Mtr[idx]), feed_own)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            run += loss.item()
            if step == 1 or step % 12 == 0:
                print(f"step {step:4d}  lr {lr_now:.2e}  loss {loss.item():.4f}  gnorm {gnorm.item():.3f}  p_own {p_own:.2f}")
        ler = error_rate(greedy(model, xva, lva), Rva)
        print(f"epoch {epoch}  mean train loss {run / steps_per_epoch:.4f}  val greedy LER {ler:5.1f}%  ({time.time() - t0:.1f}s)")

        if epoch == STAGE1:
            save_checkpoint(model, opt, ckpt_dir, step)
            before = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
            del model, opt
            model, opt, step = load_checkpoint(ckpt_dir, schedule)
            train_step = make_step(model, opt)
            after = dict(tree_flatten(model.parameters()))
            drift = max(float(np.abs(before[k] - np.array(after[k])).max()) for k in before)
            print(f"checkpoint written and reloaded at step {step}  (max param drift {drift:.1e}, "
                  f"optimizer step {int(opt.state['step'].item())})")
            print(f"resumed val greedy LER {error_rate(greedy(model, xva, lva), Rva):5.1f}%  -> stage 2 scheduled sampling")

    g = error_rate(greedy(model, xva, lva), Rva)
    sub = 32
    bhyps = [beam_one(model, mx.array(Xva[i]), int(Lva[i]), width=3) for i in range(sub)]
    bl = error_rate(bhyps, Rva[:sub])
    gl = error_rate(greedy(model, mx.array(Xva[:sub]), mx.array(Lva[:sub])), Rva[:sub])
    print(f"final val greedy LER {g:5.1f}%  | first {sub} calls: greedy {gl:5.1f}%  beam(3) {bl:5.1f}%")
    for i in range(3):
        print(f"  call {i}: ref {''.join(map(str, Rva[i]))}  beam {''.join(map(str, bhyps[i]))}")
    print(f"done in {time.time() - t0:.1f}s")


def make_step(model, opt):
    vg = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    def step_fn(x, lens, tin, tout, tmask, feed_own):
        loss, grads = vg(model, x, lens, tin, tout, tmask, feed_own)
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        return loss, gnorm

    return mx.compile(step_fn, inputs=state, outputs=state)


if __name__ == "__main__":
    main()
