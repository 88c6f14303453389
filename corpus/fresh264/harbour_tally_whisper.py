"""Harbour tally clerk: transcribe spoken crate numbers (digit strings) from
synthetic log-mel clips with a tiny Whisper-style encoder-decoder.

Decoder input = prompt [SOT, <lang>, TRANSCRIBE] + digits; the loss is only on
the digit tokens and EOT. Learning rate warms up linearly from 0, the run is
checkpointed at step 200, rebuilt from the files and resumed.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_MELS, N_FRAMES = 24, 40
DIGITS = 10
SOT, EN, FR, TRANSCRIBE, EOT, PAD = 10, 11, 12, 13, 14, 15
VOCAB = 16
PROMPT = 3
MAX_DIG = 5
TGT_LEN = PROMPT + MAX_DIG + 1

rng = np.random.default_rng(7)
# each digit has a band pattern per "language" (two accents of the clerk crew)
PATTERNS = np.zeros((2, DIGITS, N_MELS), dtype=np.float32)
for a in range(2):
    for d in range(DIGITS):
        PATTERNS[a, d, rng.choice(N_MELS, size=4, replace=False)] = 3.0


def make_clip(r):
    lang = r.integers(0, 2)
    n = r.integers(2, MAX_DIG + 1)
    digits = r.integers(0, DIGITS, size=n)
    mel = r.normal(-1.0, 0.3, size=(N_FRAMES, N_MELS)).astype(np.float32)
    # the clerk calls one digit per beat (8 frames), with a little timing jitter
    for k, d in enumerate(digits):
        t = 8 * k + r.integers(0, 3)
        dur = r.integers(4, 6)
        env = np.hanning(dur + 2)[1:-1, None]
        mel[t:t + dur] += env * PATTERNS[lang, d] * r.uniform(0.7, 1.2)
    tokens = [SOT, EN if lang == 0 else FR, TRANSCRIBE] + list(digits) + [EOT]
    tokens = tokens + [PAD] * (TGT_LEN + 1 - len(tokens))
    return mel, np.array(tokens, dtype=np.int32), digits


def make_set(n, seed):
    r = np.random.default_rng(seed)
    mels, toks, refs = [], [], []
    for _ in range(n):
        m, t, d = make_clip(r)
        mels.append(m)
        toks.append(t)
        refs.append(d)
    return np.stack(mels), np.stack(toks), refs


class TinyWhisper(nn.Module):
    def __init__(self, dims=48, heads=4, layers=1):
        super().__init__()
        self.conv1 = nn.Conv1d(N_MELS, dims, 3, padding=1)
        self.conv2 = nn.Conv1d(dims, dims, 3, stride=2, padding=1)
        self.pool = nn.AvgPool1d(4, 4)  # one memory slot per 8-frame beat
        self.enc_pos = nn.Embedding(N_FRAMES // 8, dims)
        self.encoder = nn.TransformerEncoder(layers, dims, heads, mlp_dims=2 * dims)
        self.tok = nn.Embedding(VOCAB, dims)
        self.dec_pos = nn.Embedding(TGT_LEN, dims)
        self.decoder = nn.TransformerDecoder(layers, dims, heads, mlp_dims=2 * dims)
        self.out = nn.Linear(dims, VOCAB)

    def encode(self, mel):
        x = nn.gelu(self.conv1(mel))
        x = self.pool(nn.gelu(self.conv2(x)))
        x = x + self.enc_pos(mx.arange(x.shape[1]))
        return self.encoder(x, None)

    def decode(self, tokens, memory):
        L = tokens.shape[1]
        y = self.tok(tokens) + self.dec_pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        return self.out(self.decoder(y, memory, mask, None))

    def __call__(self, mel, tokens):
        return self.decode(tokens, self.encode(mel))


def loss_fn(model, mel, tok):
    inp, tgt = tok[:, :-1], tok[:, 1:]
    logits = model(mel, inp)
    pos = mx.arange(tgt.shape[1])[None, :]
    # predictions from the prompt's last token onward; padding ignored
    weight = (pos >= PROMPT - 1) & (tgt != PAD)
    ce = nn.losses.cross_entropy(logits, tgt)
    return (ce * weight).sum() / weight.sum()


def greedy(model, mel, langs):
    memory = model.encode(mel)
    B = mel.shape[0]
    toks = mx.array(np.stack([[SOT, l, TRANSCRIBE] for l in langs]).astype(np.int32))
    for _ in range(MAX_DIG + 1):
        logits = model.decode(toks, memory)[:, -1]
        nxt = mx.argmax(logits, axis=-1).astype(mx.int32)
        toks = mx.concatenate([toks, nxt[:, None]], axis=1)
    out = np.array(toks)[:, PROMPT:]
    hyps = []
    for row in out:
        h = []
        for t in row:
            if t == EOT or t >= DIGITS:
                break
            h.append(int(t))
        hyps.append(h)
    return hyps


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev = cur
    return d[-1]


def digit_error_rate(model, mels, toks, refs):
    hyps = greedy(model, mx.array(mels), toks[:, 1])
    errs = sum(edit_distance(list(r), h) for r, h in zip(refs, hyps))
    return errs / sum(len(r) for r in refs)


def make_step(model, opt):
    lg = nn.value_and_grad(model, loss_fn)

    def step(mel, tok):
        loss, grads = lg(model, mel, tok)
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        return loss, gnorm

    return step


def build(total_steps, warmup, peak):
    model = TinyWhisper()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warmup),
         optim.cosine_decay(peak, total_steps - warmup, peak * 0.05)],
        [warmup],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return model, opt


def main():
    mx.random.seed(0)
    tr_mel, tr_tok, _ = make_set(3000, 1)
    va_mel, va_tok, va_ref = make_set(200, 2)
    total, warmup, peak, bs = 400, 40, 2e-3, 32
    model, opt = build(total, warmup, peak)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"params {n_params}  train {len(tr_mel)}  valid {len(va_mel)}")

    # baseline: an empty transcript has a digit error rate of exactly 1.0
    print(f"baseline (empty transcript) DER 1.000 | untrained DER "
          f"{digit_error_rate(model, va_mel, va_tok, va_ref):.3f}")

    ckpt_dir = tempfile.mkdtemp()
    order = np.random.default_rng(3).permutation(len(tr_mel))
    pos = 0
    step = 0
    t0 = time.time()
    resumed = False
    while step < total:
        if step == 200 and not resumed:
            mx.save_safetensors(os.path.join(ckpt_dir, "model.safetensors"),
                                dict(tree_flatten(model.parameters())))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            print(f"step {step}: checkpoint written, rebuilding from disk")
            model, opt = build(total, warmup, peak)
            model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
            opt.state = tree_unflatten(list(
                mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            mx.eval(model.parameters(), opt.state)
            print(f"resumed at step {int(opt.state['step'])}, lr "
                  f"{opt.learning_rate.item():.2e}, valid DER "
                  f"{digit_error_rate(model, va_mel, va_tok, va_ref):.3f}")
            resumed = True
            train_step = make_step(model, opt)
        if step == 0:
            opt.init(model.trainable_parameters())
            train_step = make_step(model, opt)
        if pos + bs > len(order):
            order = np.random.default_rng(step).permutation(len(tr_mel))
            pos = 0
        idx = order[pos:pos + bs]
        pos += bs
        lr_used = opt.learning_rate.item()
        loss, gnorm = train_step(mx.array(tr_mel[idx]), mx.array(tr_tok[idx]))
        mx.eval(model.state, opt.state, loss)
        if step % 50 == 0 or step == total - 1:
            print(f"step {step:4d}  loss {loss.item():.4f}  lr {lr_used:.2e}  "
                  f"gnorm {gnorm.item():.3f}  {time.time() - t0:.1f}s")
        step += 1

    der = digit_error_rate(model, va_mel, va_tok, va_ref)
    print(f"final valid DER {der:.3f} (baseline 1.000)")
    hyps = greedy(model, mx.array(va_mel[:3]), va_tok[:3, 1])
    for r, h in zip(va_ref[:3], hyps):
        print(f"  ref {''.join(map(str, r)):>7}  hyp {''.join(map(str, h)):>7}")


if __name__ == "__main__":
    main()
