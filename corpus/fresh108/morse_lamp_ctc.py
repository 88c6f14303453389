"""Signal-lamp transcription: a conv front end + a hand-made bidirectional GRU reads noisy
light-sensor frames and is trained with a hand-written CTC loss (no frame alignment given).
The training step is compiled with the model and optimizer state as implicit inputs/outputs."""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

T = 24            # frames per clip
N_SYM = 4         # lamp symbols 1..4, 0 is the CTC blank (lamp dark)
N_FEAT = 8        # sensor channels per frame
NEG = -1e9        # "log zero" that keeps logaddexp finite


def synth_clips(n, rng, protos):
    x = np.zeros((n, T, N_FEAT), np.float32)
    labels = np.zeros((n, 5), np.int32)
    lens = np.zeros(n, np.int32)
    for i in range(n):
        L = rng.integers(2, 6)
        seq = rng.integers(1, N_SYM + 1, L)
        t = rng.integers(0, 2)
        for j, s in enumerate(seq):
            if j > 0:
                gap = rng.integers(1 if s == seq[j - 1] else 0, 3)
                t += gap
            dur = rng.integers(1, 4)
            x[i, t:t + dur] = protos[s]
            t += dur
        labels[i, :L] = seq
        lens[i] = L
    x += rng.normal(0, 0.45, x.shape).astype(np.float32)
    return x, labels, lens


class LampReader(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.front = nn.Conv1d(N_FEAT, hidden, kernel_size=3, padding=1)
        self.fwd = nn.GRU(hidden, hidden)
        self.bwd = nn.GRU(hidden, hidden)
        self.out = nn.Linear(2 * hidden, N_SYM + 1)

    def __call__(self, x):               # x: (batch, frames, channels), MLX's NLC layout
        h = nn.relu(self.front(x))
        f = self.fwd(h)
        b = self.bwd(h[:, ::-1, :])[:, ::-1, :]   # run backwards in time, then re-align
        return self.out(mx.concatenate([f, b], axis=-1))


def ctc_nll(log_probs, labels, lens):
    """Per-clip CTC negative log-likelihood by the forward (alpha) recursion in log space."""
    B, L = labels.shape
    S = 2 * L + 1
    ext = mx.zeros((B, S), dtype=mx.int32)
    ext[:, 1::2] = labels                                       # blank, l1, blank, l2, ...
    prev2 = mx.concatenate([mx.full((B, 2), -1, mx.int32), ext[:, :-2]], axis=1)
    can_skip = (ext != 0) & (ext != prev2)
    pos = mx.arange(S)[None, :]

    emit = mx.take_along_axis(log_probs, mx.broadcast_to(ext[:, None, :], (B, T, S)), axis=2)
    alpha = mx.where(pos < 2, emit[:, 0, :], NEG)
    pad1 = mx.full((B, 1), NEG)
    pad2 = mx.full((B, 2), NEG)
    for t in range(1, T):
        a1 = mx.concatenate([pad1, alpha[:, :-1]], axis=1)
        a2 = mx.where(can_skip, mx.concatenate([pad2, alpha[:, :-2]], axis=1), NEG)
        alpha = mx.logaddexp(mx.logaddexp(alpha, a1), a2) + emit[:, t, :]
    last = (2 * lens)[:, None]
    end = mx.logaddexp(mx.take_along_axis(alpha, last, axis=1),
                       mx.take_along_axis(alpha, last - 1, axis=1))[:, 0]
    return -end


def loss_fn(model, x, labels, lens):
    log_probs = nn.log_softmax(model(x), axis=-1)
    return ctc_nll(log_probs, labels, lens).mean()


def greedy_decode(logits):
    best = np.array(mx.argmax(logits, axis=-1))
    out = []
    for row in best:
        seq, prev = [], 0
        for s in row:
            if s != prev and s != 0:
                seq.append(int(s))
            prev = s
        out.append(seq)
    return out


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev, d[j] = d[j], cur
    return d[-1]


def symbol_error_rate(model, x, labels, lens):
    hyps = greedy_decode(model(x))
    errs = sum(edit_distance(h, list(l[:n])) for h, l, n in zip(hyps, labels, lens))
    return 100.0 * errs / int(lens.sum())


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    protos = np.zeros((N_SYM + 1, N_FEAT), np.float32)
    protos[1:] = rng.normal(0, 1.0, (N_SYM, N_FEAT))
    xtr, ytr, ltr = synth_clips(2400, rng, protos)
    xva, yva, lva = synth_clips(600, rng, protos)
    Xtr, Ytr, Ltr = mx.array(xtr), mx.array(ytr), mx.array(ltr)
    Xva, Yva, Lva = mx.array(xva), mx.array(yva), mx.array(lva)

    model = LampReader()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3, bias_correction=True)
    step = nn.value_and_grad(model, loss_fn)

    # gradient sanity check, eagerly, before anything is compiled
    _, g0 = step(model, Xtr[:50], Ytr[:50], Ltr[:50])
    flat = tree_flatten(g0)
    zero = [n for n, g in flat if float(mx.abs(g).max()) == 0.0]
    grad_note = f"(first batch: {len(flat)} gradient leaves, all-zero: {zero or 'none'})"

    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y, lens):
        loss, grads = step(model, x, y, lens)
        grads, _ = optim.clip_grad_norm(grads, max_norm=5.0)
        opt.update(model, grads)
        return loss

    print(f"Signal-lamp CTC: {len(xtr)} train clips, {len(xva)} validation clips, "
          f"{T} frames, {N_SYM} symbols + blank")
    print(f"Before training the validation CTC loss is "
          f"{loss_fn(model, Xva, Yva, Lva).item():.2f} nats per clip and the symbol error rate "
          f"is {symbol_error_rate(model, Xva, yva, lva):.1f}% (lower is better).")
    print(grad_note)
    print()
    print("| epoch | train CTC (nats/clip) | val CTC (nats/clip) | val symbol errors | seconds |")
    print("|------:|----------------------:|--------------------:|------------------:|--------:|")

    batch = 50
    t0 = time.perf_counter()
    for epoch in range(1, 9):
        perm = rng.permutation(len(xtr))
        total, count = 0.0, 0
        for k in range(0, len(perm), batch):
            idx = mx.array(perm[k:k + batch])
            loss = train_step(Xtr[idx], Ytr[idx], Ltr[idx])
            mx.eval(state, loss)
            total += loss.item() * len(idx)
            count += len(idx)
        val = loss_fn(model, Xva, Yva, Lva).item()
        ser = symbol_error_rate(model, Xva, yva, lva)
        print(f"| {epoch:5d} | {total / count:21.3f} | {val:19.3f} | {ser:16.1f}% | "
              f"{time.perf_counter() - t0:7.1f} |")

    hyp = greedy_decode(model(Xva[:3]))
    print()
    for h, l, n in zip(hyp, yva[:3], lva[:3]):
        print(f"reference {list(map(int, l[:n]))} -> decoded {h}")


if __name__ == "__main__":
    main()
