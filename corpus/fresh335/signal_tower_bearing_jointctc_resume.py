"""Fire-lookout radio: transcribe spoken compass bearings from filterbank frames.

Joint CTC / attention recogniser (ESPnet-style multi-task loss, ctc_weight 0.3):
  encoder  : Conv1d front end + bidirectional GRU
  CTC head : Linear over encoder states, hand-written log-space CTC forward pass
  decoder  : Embedding + GRU + dot-product attention over encoder states (teacher forcing)
Schedule  : linear warm-up from exactly 0, then cosine decay.
Run       : half the steps, save weights + optimizer state, rebuild everything, reload, finish.
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

WORDS = ["north", "east", "south", "west", "niner", "zero"]   # spoken tokens 1..6
BLANK = 0
V_CTC = len(WORDS) + 1          # blank + words
SOS, EOS = len(WORDS) + 1, len(WORDS) + 2
V_DEC = len(WORDS) + 3          # pad(0) + words + sos + eos
N_BANDS, T_FRAMES, MAX_U = 16, 30, 5
CTC_WEIGHT = 0.3

rng = np.random.default_rng(335)
TEMPLATES = rng.normal(0.0, 1.0, size=(len(WORDS), 3, N_BANDS)).astype(np.float32)


def render(n, rng):
    """Each word = 2-3 frames of its template (onset/body/tail), silence gaps, noisy channel."""
    x = rng.normal(0.0, 0.7, size=(n, T_FRAMES, N_BANDS)).astype(np.float32)
    labels = np.zeros((n, MAX_U), np.int32)
    lens = np.zeros((n,), np.int32)
    for i in range(n):
        u = int(rng.integers(2, MAX_U + 1))
        words = rng.integers(1, len(WORDS) + 1, size=u)
        t = int(rng.integers(0, 3))
        gain = rng.uniform(0.5, 1.2)
        for w in words:
            dur = int(rng.integers(2, 4))
            for k in range(dur):
                x[i, t + k] += gain * TEMPLATES[w - 1, min(k, 2)]
            t += dur + int(rng.integers(0, 2))
        labels[i, :u] = words
        lens[i] = u
    return x, labels, lens


class Recogniser(nn.Module):
    def __init__(self, hid=48):
        super().__init__()
        self.front = nn.Conv1d(N_BANDS, hid, kernel_size=3, padding=1)
        self.fwd = nn.GRU(hid, hid)
        self.bwd = nn.GRU(hid, hid)
        self.ctc_head = nn.Linear(2 * hid, V_CTC)
        self.embed = nn.Embedding(V_DEC, hid)
        self.dec = nn.GRU(hid, 2 * hid)
        self.out = nn.Linear(4 * hid, V_DEC)

    def encode(self, x):
        h = nn.gelu(self.front(x))
        f = self.fwd(h)
        b = self.bwd(h[:, ::-1])[:, ::-1]
        return mx.concatenate([f, b], axis=-1)            # (B, T, 2h)

    def __call__(self, x, dec_in):
        enc = self.encode(x)
        ctc_logits = self.ctc_head(enc)
        q = self.dec(self.embed(dec_in))                  # (B, U+1, 2h)
        att = mx.softmax(q @ enc.transpose(0, 2, 1) / math.sqrt(q.shape[-1]), axis=-1)
        ctx = att @ enc
        return ctc_logits, self.out(mx.concatenate([q, ctx], axis=-1))


NEG = -1e9


def ctc_loss(logits, labels, label_lens):
    """Mean over the batch of -log p(labels | frames), log-space forward algorithm."""
    B, T, _ = logits.shape
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    S = 2 * MAX_U + 1
    ext = mx.zeros((B, S), dtype=mx.int32)
    ext = ext.at[:, 1::2].add(labels)                           # blank, l1, blank, l2, ...
    prev2 = mx.concatenate([mx.zeros((B, 2), mx.int32), ext[:, :-2]], axis=1)
    skip_ok = (ext != BLANK) & (ext != prev2)
    skip_ok = skip_ok & (mx.arange(S)[None, :] >= 2)
    emit = mx.take_along_axis(logp, mx.broadcast_to(ext[:, None, :], (B, T, S)), axis=2)
    init = mx.full((B, S), NEG)
    alpha = mx.where(mx.arange(S)[None, :] < 2, emit[:, 0], init)
    for t in range(1, T):
        a1 = mx.concatenate([mx.full((B, 1), NEG), alpha[:, :-1]], axis=1)
        a2 = mx.concatenate([mx.full((B, 2), NEG), alpha[:, :-2]], axis=1)
        a2 = mx.where(skip_ok, a2, NEG)
        alpha = mx.logsumexp(mx.stack([alpha, a1, a2], axis=0), axis=0) + emit[:, t]
    last = (2 * label_lens)[:, None]
    end = mx.logsumexp(mx.concatenate([mx.take_along_axis(alpha, last, axis=1),
                                       mx.take_along_axis(alpha, last - 1, axis=1)], axis=1), axis=1)
    return -end.mean()


def decoder_io(labels, lens):
    B = labels.shape[0]
    dec_in = np.zeros((B, MAX_U + 1), np.int32)
    dec_out = np.zeros((B, MAX_U + 1), np.int32)
    for i in range(B):
        u = lens[i]
        dec_in[i, 0] = SOS
        dec_in[i, 1:u + 1] = labels[i, :u]
        dec_out[i, :u] = labels[i, :u]
        dec_out[i, u] = EOS
    return mx.array(dec_in), mx.array(dec_out)


def joint_loss(model, x, labels, lens, dec_in, dec_out):
    ctc_logits, dec_logits = model(x, dec_in)
    l_ctc = ctc_loss(ctc_logits, labels, lens)
    mask = dec_out != 0
    ce = nn.losses.cross_entropy(dec_logits, dec_out) * mask
    l_att = ce.sum() / mask.sum()
    return CTC_WEIGHT * l_ctc + (1 - CTC_WEIGHT) * l_att, (l_ctc, l_att)


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev = cur
    return d[len(b)]


def greedy_ctc(model, x):
    path = np.array(mx.argmax(model.ctc_head(model.encode(x)), axis=-1))
    out = []
    for row in path:
        seq, last = [], BLANK
        for p in row:
            if p != last and p != BLANK:
                seq.append(int(p))
            last = p
        out.append(seq)
    return out


def token_error_rate(hyps, labels, lens):
    errs = sum(edit_distance(h, list(labels[i, :lens[i]])) for i, h in enumerate(hyps))
    return errs / float(lens.sum())


def build(total_steps, warm):
    model = Recogniser()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_steps - warm, 1e-4)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return model, opt


def run_steps(model, opt, start, stop, data, batch, log_every):
    xtr, ytr, ltr = data
    lg = nn.value_and_grad(model, joint_loss)
    r = np.random.default_rng(1000 + start)
    for step in range(start, stop):
        idx = r.integers(0, len(xtr), size=batch)
        dec_in, dec_out = decoder_io(ytr[idx], ltr[idx])
        (loss, (lc, la)), grads = lg(model, mx.array(xtr[idx]), mx.array(ytr[idx]),
                                     mx.array(ltr[idx]), dec_in, dec_out)
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % log_every == 0 or step == stop - 1:
            print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  loss {loss.item():.4f}  "
                  f"ctc {lc.item():.4f}  att {la.item():.4f}  |g| {gnorm.item():.3f}")


def main():
    t0 = time.time()
    mx.random.seed(7)
    xtr, ytr, ltr = render(2400, rng)
    xva, yva, lva = render(400, rng)
    total, warm, batch = 260, 30, 32

    model, opt = build(total, warm)
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"train {len(xtr)} clips, val {len(xva)} clips, {n_params} parameters, ctc_weight {CTC_WEIGHT}")

    blank_hyp = [[] for _ in range(len(xva))]
    common = int(np.bincount(ytr[ytr > 0]).argmax())
    majority_hyp = [[common] * 3 for _ in range(len(xva))]
    print(f"baseline TER: empty output {token_error_rate(blank_hyp, yva, lva):.3f}  "
          f"'{WORDS[common - 1]}' x3 {token_error_rate(majority_hyp, yva, lva):.3f}")

    half = total // 2
    run_steps(model, opt, 0, half, (xtr, ytr, ltr), batch, 20)
    model.eval()
    ter_half = token_error_rate(greedy_ctc(model, mx.array(xva)), yva, lva)
    print(f"[half] val TER (greedy CTC) {ter_half:.3f}")

    ckdir = tempfile.mkdtemp(prefix="lookout_")
    model.save_weights(os.path.join(ckdir, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"saved checkpoint at step {half} -> {ckdir}")
    del model, opt

    model, opt = build(total, warm)
    model.load_weights(os.path.join(ckdir, "model.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    model.train()
    print(f"resumed at optimizer step {opt.step.item()}  lr {opt.learning_rate.item():.2e}")
    run_steps(model, opt, half, total, (xtr, ytr, ltr), batch, 20)

    model.eval()
    hyps = greedy_ctc(model, mx.array(xva))
    ter = token_error_rate(hyps, yva, lva)
    exact = np.mean([h == list(yva[i, :lva[i]]) for i, h in enumerate(hyps)])
    print(f"final val TER (greedy CTC) {ter:.3f}  exact-sequence acc {exact:.3f}")
    for i in range(3):
        print("  ref:", " ".join(WORDS[w - 1] for w in yva[i, :lva[i]]),
              "| hyp:", " ".join(WORDS[w - 1] for w in hyps[i]))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
