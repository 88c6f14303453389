"""Two-stage Whisper-style run on synthetic log-mel clips of spoken digits.

stage A: train the whole encoder-decoder on plain transcripts
         (<sot><lang><transcribe><notimestamps> d d d <eot>), Adam with a
         linear warm-up that starts at a learning rate of exactly 0.
stage B: reload the stage-A checkpoint into a fresh model, freeze the audio
         encoder and teach the decoder to emit timestamp tokens before every
         digit (<sot><lang><transcribe> <t> d <t> d <t> d <eot>), AdamW with
         two cosine cycles (warm restart halfway).
"""

import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_MELS, FPD, N_DIG = 16, 8, 3
N_FRAMES = FPD * N_DIG + 4
EOT, SOT, LANG, TRANSCRIBE, NOTS = 10, 11, 12, 13, 14
TS0 = 15
N_TS = (4 + FPD * (N_DIG - 1)) // 2 + 1
VOCAB = TS0 + N_TS

rng = np.random.default_rng(11)
FORMANTS = rng.uniform(2, N_MELS - 2, size=(10, 2))


def make_clips(n, seed):
    r = np.random.default_rng(seed)
    digits = r.integers(0, 10, size=(n, N_DIG))
    starts = r.integers(0, 5, size=n)
    mel = r.normal(0.0, 0.35, size=(n, N_FRAMES, N_MELS)).astype(np.float32)
    bins = np.arange(N_MELS)
    onsets = np.zeros((n, N_DIG), dtype=np.int64)
    for i in range(n):
        for j, d in enumerate(digits[i]):
            f1, f2 = FORMANTS[d]
            shape = np.exp(-0.5 * (bins - f1) ** 2) + 0.7 * np.exp(-0.5 * ((bins - f2) / 1.5) ** 2)
            s = starts[i] + j * FPD
            onsets[i, j] = s
            mel[i, s : s + FPD - 1] += 1.5 * shape
    plain = np.concatenate(
        [np.tile([SOT, LANG, TRANSCRIBE, NOTS], (n, 1)), digits, np.full((n, 1), EOT)], axis=1
    )
    ts = TS0 + onsets // 2
    timed = np.concatenate(
        [np.tile([SOT, LANG, TRANSCRIBE], (n, 1)),
         np.stack([ts[:, 0], digits[:, 0], ts[:, 1], digits[:, 1], ts[:, 2], digits[:, 2]], 1),
         np.full((n, 1), EOT)], axis=1
    )
    return mx.array(mel), mx.array(plain.astype(np.int32)), mx.array(timed.astype(np.int32))


def sinusoids(length, channels):
    inv = np.exp(-math.log(10000) / (channels // 2 - 1) * np.arange(channels // 2))
    t = np.arange(length)[:, None] * inv[None, :]
    return mx.array(np.concatenate([np.sin(t), np.cos(t)], 1).astype(np.float32))


class Block(nn.Module):
    def __init__(self, d, heads, cross=False):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.cross = cross
        if cross:
            self.ln_x = nn.LayerNorm(d)
            self.xattn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def __call__(self, x, mask=None, memory=None):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        if self.cross:
            h = self.ln_x(x)
            x = x + self.xattn(h, memory, memory)
        return x + self.fc2(nn.gelu(self.fc1(self.ln2(x))))


class AudioEncoder(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.conv1 = nn.Conv1d(N_MELS, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self._pos = sinusoids(N_FRAMES // 2, d)
        self.block = Block(d, heads)
        self.ln = nn.LayerNorm(d)

    def __call__(self, mel):
        x = nn.gelu(self.conv2(nn.gelu(self.conv1(mel))))
        return self.ln(self.block(x + self._pos[: x.shape[1]]))


class TextDecoder(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(16, d)
        self.block = Block(d, heads, cross=True)
        self.ln = nn.LayerNorm(d)

    def __call__(self, tokens, audio):
        T = tokens.shape[1]
        x = self.tok(tokens) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        return self.tok.as_linear(self.ln(self.block(x, mask, audio)))


class Whisperlet(nn.Module):
    def __init__(self, d=32, heads=2):
        super().__init__()
        self.encoder = AudioEncoder(d, heads)
        self.decoder = TextDecoder(d, heads)

    def __call__(self, mel, tokens):
        return self.decoder(tokens, self.encoder(mel))


def make_loss(n_prompt):
    def loss_fn(model, mel, tokens):
        logits = model(mel, tokens[:, :-1])[:, n_prompt - 1 :]
        return nn.losses.cross_entropy(logits, tokens[:, n_prompt:]).mean()
    return loss_fn


def unigram_nll(tokens, n_prompt):
    body = np.array(tokens[:, n_prompt:]).ravel()
    counts = np.bincount(body, minlength=VOCAB) + 1e-3
    p = counts / counts.sum()
    return float(-np.log(p[body]).mean())


def greedy(model, mel, prompt, n_new):
    audio = model.encoder(mel)
    toks = mx.array(np.tile(prompt, (mel.shape[0], 1)).astype(np.int32))
    for _ in range(n_new):
        nxt = mx.argmax(model.decoder(toks, audio)[:, -1], -1).astype(mx.int32)
        toks = mx.concatenate([toks, nxt[:, None]], 1)
    return np.array(toks[:, len(prompt):])


def batches(n, bs, seed):
    r = np.random.default_rng(seed)
    while True:
        perm = r.permutation(n)
        for i in range(0, n - bs + 1, bs):
            yield mx.array(perm[i : i + bs])


def main():
    mx.random.seed(3)
    tr_mel, tr_plain, tr_timed = make_clips(1024, 1)
    va_mel, va_plain, va_timed = make_clips(128, 2)
    bs = 16

    # ---------------- stage A: plain transcripts, whole model
    model = Whisperlet()
    mx.eval(model.parameters())
    warm, steps_a, peak = 40, 240, 2e-3
    sched_a = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps_a - warm, 2e-4)], [warm]
    )
    opt_a = optim.Adam(learning_rate=sched_a)
    loss_a = make_loss(4)
    vg = nn.value_and_grad(model, loss_a)
    base_a = unigram_nll(va_plain, 4)
    print(f"stage=A params={sum(v.size for _, v in tree_flatten(model.parameters()))} "
          f"unigram_nll={base_a:.3f} chance_der=0.900")
    it = batches(1024, bs, 5)
    t0 = time.time()
    for step in range(steps_a):
        idx = next(it)
        lr_now = sched_a(step).item()
        loss, grads = vg(model, tr_mel[idx], tr_plain[idx])
        opt_a.update(model, grads)
        mx.eval(loss, model.parameters(), opt_a.state)
        if step in (0, 1) or (step + 1) % 40 == 0:
            gap = loss_a(model, va_mel, va_plain).item() - base_a
            print(f"stage=A step={step + 1} lr={lr_now:.2e} loss={loss.item():.4f} "
                  f"val_nll_minus_unigram={gap:+.3f} t={time.time() - t0:.1f}s")
    hyp = greedy(model, va_mel, [SOT, LANG, TRANSCRIBE, NOTS], N_DIG)
    der_a = float((hyp != np.array(va_plain[:, 4 : 4 + N_DIG])).mean())
    print(f"stage=A done digit_error_rate={der_a:.3f} (chance 0.900)")

    ckpt = os.path.join(tempfile.mkdtemp(), "stage_a.safetensors")
    model.save_weights(ckpt)
    print(f"checkpoint written ({os.path.getsize(ckpt) // 1024} KiB)")

    # ---------------- stage B: reload, freeze encoder, timestamps
    model = Whisperlet()
    model.load_weights(ckpt)
    model.encoder.freeze()
    enc_before = {k: np.array(v) for k, v in tree_flatten(model.encoder.parameters())}
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"stage=B reloaded, encoder frozen, trainable={n_train}")
    steps_b, cycle = 200, 100
    sched_b = optim.join_schedules(
        [optim.cosine_decay(1.5e-3, cycle, 5e-5), optim.cosine_decay(1.5e-3, cycle, 5e-5)], [cycle]
    )
    opt_b = optim.AdamW(learning_rate=sched_b, weight_decay=0.01)
    loss_b = make_loss(3)
    vg = nn.value_and_grad(model, loss_b)
    base_b = unigram_nll(va_timed, 3)
    it = batches(1024, bs, 6)
    first = loss_b(model, va_mel, va_timed).item()
    print(f"stage=B start val_loss={first:.4f} unigram_nll={base_b:.3f}")
    for step in range(steps_b):
        idx = next(it)
        loss, grads = vg(model, tr_mel[idx], tr_timed[idx])
        opt_b.update(model, grads)
        mx.eval(loss, model.parameters(), opt_b.state)
        if (step + 1) % cycle == 0:
            gap = loss_b(model, va_mel, va_timed).item() - base_b
            print(f"stage=B cycle_end step={step + 1} lr={sched_b(step).item():.2e} "
                  f"loss={loss.item():.4f} val_nll_minus_unigram={gap:+.3f} t={time.time() - t0:.1f}s")

    out = greedy(model, va_mel, [SOT, LANG, TRANSCRIBE], 2 * N_DIG)
    ref = np.array(va_timed[:, 3 : 3 + 2 * N_DIG])
    der = float((out[:, 1::2] != ref[:, 1::2]).mean())
    ts_acc = float((out[:, 0::2] == ref[:, 0::2]).mean())
    enc_moved = max(float(np.abs(np.array(v) - enc_before[k]).max())
                    for k, v in tree_flatten(model.encoder.parameters()))
    print(f"stage=B done digit_error_rate={der:.3f} timestamp_exact={ts_acc:.3f} "
          f"(onset-bin chance {1 / N_TS:.3f}) encoder_max_change={enc_moved:.1e}")
    for i in range(3):
        print(f"  ref {ref[i].tolist()}  hyp {out[i].tolist()}")


if __name__ == "__main__":
    main()
