"""Auction-house chant: transcribe the spoken lot price (digit string) from
synthetic filter-bank frames with a small CTC model.

Frames: 20-d, 3..5 digits per call, each digit 3..6 frames with an optional
1..2 frame filler ("dollar-bid") between digits, Gaussian noise.  Clips have
different lengths and are zero-padded; a frame mask keeps padding out of
attention and out of the CTC lattice.

Model: Conv1d with stride 2 (halves the frame rate) -> 2-layer
TransformerEncoder -> Linear to 11 outputs (0 = blank, 1..10 = digits 0..9).
Adam with an inverse-square-root (Noam) schedule whose rate is exactly 0 at
step 0.  Report blocks are INI-style sections, written every 2nd epoch.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

DIM, NCLS, TMAX, LMAX = 20, 11, 48, 5
NEG = -1e30
rng = np.random.default_rng(3160)
digit_proto = rng.normal(0, 1, (10, DIM)).astype(np.float32)
filler_proto = rng.normal(0, 0.4, DIM).astype(np.float32)


def make_set(n):
    X = np.zeros((n, TMAX, DIM), np.float32)
    lens = np.zeros(n, np.int32)
    Y = np.zeros((n, LMAX), np.int32)
    ylen = np.zeros(n, np.int32)
    for i in range(n):
        while True:
            digits = rng.integers(0, 10, rng.integers(3, LMAX + 1))
            frames = [filler_proto] * int(rng.integers(1, 3))
            for d in digits:
                frames += [digit_proto[d]] * int(rng.integers(3, 7))
                frames += [filler_proto] * int(rng.integers(1, 3))
            if len(frames) <= TMAX:
                break
        x = np.stack(frames) + rng.normal(0, 0.8, (len(frames), DIM))
        X[i, :len(frames)] = x
        lens[i] = len(frames)
        Y[i, :len(digits)] = digits + 1
        ylen[i] = len(digits)
    return X, lens, Y, ylen


class ChantNet(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.sub = nn.Conv1d(DIM, d, kernel_size=3, stride=2, padding=1)
        self.pos = nn.SinusoidalPositionalEncoding(d)
        self.enc = nn.TransformerEncoder(2, d, 4, mlp_dims=128, dropout=0.0)
        self.head = nn.Linear(d, NCLS)

    def __call__(self, x, out_mask):
        h = nn.relu(self.sub(x))
        T = h.shape[1]
        h = h + self.pos(mx.arange(T))
        key_ok = out_mask[:, None, None, :]
        attn = mx.where(key_ok, 0.0, -1e9).astype(h.dtype)
        return self.head(self.enc(h, attn))


def ctc_nll(logits, out_lens, labels, label_lens):
    """Per-utterance CTC negative log-likelihood (log-space forward pass)."""
    B, T, _ = logits.shape
    logp = nn.log_softmax(logits, axis=-1)
    S = 2 * LMAX + 1
    ext = mx.concatenate([mx.stack([mx.zeros_like(labels), labels], -1).reshape(B, -1),
                          mx.zeros((B, 1), mx.int32)], axis=1)
    emit = mx.take_along_axis(logp, mx.broadcast_to(ext[:, None, :], (B, T, S)), axis=2)
    prev2 = mx.concatenate([mx.full((B, 2), -1, mx.int32), ext[:, :-2]], axis=1)
    skip_ok = (ext != 0) & (ext != prev2)
    s_idx = mx.arange(S)[None]
    alpha = mx.where(s_idx < 2, emit[:, 0], NEG)
    pad1 = mx.full((B, 1), NEG)
    pad2 = mx.full((B, 2), NEG)
    for t in range(1, T):
        a1 = mx.concatenate([pad1, alpha[:, :-1]], axis=1)
        a2 = mx.where(skip_ok, mx.concatenate([pad2, alpha[:, :-2]], axis=1), NEG)
        new = mx.logsumexp(mx.stack([alpha, a1, a2], 0), axis=0) + emit[:, t]
        alpha = mx.where((t < out_lens)[:, None], new, alpha)
    last = 2 * label_lens
    end = mx.stack([mx.take_along_axis(alpha, last[:, None], 1)[:, 0],
                    mx.take_along_axis(alpha, (last - 1)[:, None], 1)[:, 0]], 0)
    return -mx.logsumexp(end, axis=0)


def greedy(logits, out_lens):
    best = np.array(mx.argmax(logits, axis=-1))
    outs = []
    for b, L in zip(best, np.array(out_lens)):
        seq, prev = [], 0
        for k in b[:L]:
            if k != prev and k != 0:
                seq.append(int(k) - 1)
            prev = k
        outs.append(seq)
    return outs


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[-1]


Xtr, Ltr, Ytr, YLtr = make_set(1500)
Xva, Lva, Yva, YLva = make_set(400)
out_len = lambda L: (L + 1) // 2
T_OUT = out_len(TMAX)


def batch(X, L, Y, YL, idx):
    ol = out_len(L[idx])
    m = np.arange(T_OUT)[None] < ol[:, None]
    return (mx.array(X[idx]), mx.array(m), mx.array(ol), mx.array(Y[idx]), mx.array(YL[idx]))


mx.random.seed(3160)
model = ChantNet()
mx.eval(model.parameters())

WARM, PEAK = 150, 2e-3


def noam(step):
    s = step.astype(mx.float32)
    return PEAK * mx.minimum(s / WARM, mx.sqrt(WARM / mx.maximum(s, 1.0)))


opt = optim.Adam(learning_rate=noam)


def loss_fn(model, x, m, ol, y, yl):
    return (ctc_nll(model(x, m), ol, y, yl) / yl).mean()


loss_and_grad = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


def train_step(x, m, ol, y, yl):
    loss, g = loss_and_grad(model, x, m, ol, y, yl)
    g, gnorm = optim.clip_grad_norm(g, 5.0)
    opt.update(model, g)
    return loss, gnorm


compiled = mx.compile(train_step, inputs=state, outputs=state)


def evaluate():
    errs = words = exact = 0
    nll = 0.0
    for s in range(0, len(Xva), 200):
        idx = np.arange(s, min(s + 200, len(Xva)))
        x, m, ol, y, yl = batch(Xva, Lva, Yva, YLva, idx)
        logits = model(x, m)
        nll += float((ctc_nll(logits, ol, y, yl) / yl).sum())
        for hyp, ref, n in zip(greedy(logits, ol), Yva[idx], YLva[idx]):
            ref = [int(r) - 1 for r in ref[:n]]
            errs += edit_distance(hyp, ref)
            words += n
            exact += hyp == ref
    return nll / len(Xva), 100.0 * errs / words, 100.0 * exact / len(Xva)


print("[data]")
print(f"train_calls = {len(Xtr)}\nvalid_calls = {len(Xva)}\nmax_frames = {TMAX} (after stride-2: {T_OUT})")
print(f"digits_per_call = 3..5\nnoam_warmup_steps = {WARM}\npeak_lr = {PEAK}")
print()
v0 = evaluate()
print("[untrained]")
print(f"valid_ctc_per_digit = {v0[0]:.3f}\ndigit_error_pct = {v0[1]:.1f}\nexact_price_pct = {v0[2]:.1f}")
print("reference_all_blank_error_pct = 100.0")
print()

EPOCHS, BS = 6, 50
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(Xtr))
    run = 0.0
    nb = len(Xtr) // BS
    for b in range(nb):
        x, m, ol, y, yl = batch(Xtr, Ltr, Ytr, YLtr, perm[b * BS:(b + 1) * BS])
        if ep == 1 and b == 0:
            lr0 = float(noam(mx.array(0)))
            l0, g0 = loss_and_grad(model, x, m, ol, y, yl)
            gn = math.sqrt(sum(float((v * v).sum()) for _, v in tree_flatten(g0)))
            print("[first-batch]")
            print(f"lr = {lr0:.1e}\nloss = {l0.item():.3f}\ngrad_norm = {gn:.3f}")
            print()
        loss, gnorm = compiled(x, m, ol, y, yl)
        mx.eval(state, loss)
        run += loss.item()
    if ep % 2 == 0:
        vnll, der, ex = evaluate()
        print(f"[epoch {ep}]")
        print(f"step = {int(opt.step.item())}\nlr = {float(noam(opt.step)):.2e}")
        print(f"train_ctc_per_digit = {run / nb:.3f}\nvalid_ctc_per_digit = {vnll:.3f}")
        print(f"digit_error_pct = {der:.1f}\nexact_price_pct = {ex:.1f}\nelapsed_s = {time.time() - t0:.1f}")
        print()

x, m, ol, y, yl = batch(Xva, Lva, Yva, YLva, np.arange(4))
print("[samples]")
for i, hyp in enumerate(greedy(model(x, m), ol)):
    ref = "".join(str(int(r) - 1) for r in Yva[i, :YLva[i]])
    print(f"call_{i} = ref {ref} / heard {''.join(map(str, hyp))}")
