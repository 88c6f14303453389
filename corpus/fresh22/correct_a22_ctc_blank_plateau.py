# Frame-level sequence labelling with a hand-written CTC loss (forward algorithm
# in log space). Synthetic "keyword spotting": each utterance is 32 noisy frames
# that spell 2-4 symbols from a 5-letter alphabet, every symbol held for 3-5
# frames with short silences in between; no frame-level alignment is given.
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

ALPHABET = "abcde"
BLANK = 0
T = 32
FEAT = 12
MAXLAB = 4
NEG = -1e9

rng = random.Random(7)
mx.random.seed(7)
PROTOS = mx.random.normal((len(ALPHABET) + 1, FEAT)) * 1.2  # row 0 = silence


def make_utt():
    n = rng.randint(2, MAXLAB)
    labels = [rng.randint(1, len(ALPHABET)) for _ in range(n)]
    frames = [0] * rng.randint(1, 3)
    for s in labels:
        frames += [s] * rng.randint(3, 5)
        frames += [0] * rng.randint(1, 2)
    frames = (frames + [0] * T)[:T]
    return frames, labels


def make_set(n):
    fr, labs, lens = [], [], []
    for _ in range(n):
        f, l = make_utt()
        fr.append(f)
        labs.append(l + [0] * (MAXLAB - len(l)))
        lens.append(len(l))
    fr = mx.array(fr)
    x = PROTOS[fr] + 1.3 * mx.random.normal((n, T, FEAT))
    return x, mx.array(labs), mx.array(lens)


class FrameNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.conv1 = nn.Conv1d(FEAT, hidden, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(hidden, hidden, kernel_size=5, padding=2)
        self.out = nn.Linear(hidden, len(ALPHABET) + 1)

    def __call__(self, x):
        h = nn.relu(self.conv1(x))
        h = nn.relu(self.conv2(h))
        return self.out(h)


def ctc_loss(logits, labels, label_lens):
    """Mean over the batch of -log p(labels | x), standard CTC with blank=0."""
    B = logits.shape[0]
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)  # (B, T, C)
    S = 2 * MAXLAB + 1
    ext = mx.zeros((B, S), dtype=mx.int32)
    ext[:, 1::2] = labels
    # skip transition s-2 -> s allowed when ext[s] is a symbol different from ext[s-2]
    prev2 = mx.concatenate([mx.full((B, 2), -1, dtype=mx.int32), ext[:, :-2]], axis=1)
    can_skip = (ext != BLANK) & (ext != prev2)
    neg = mx.full((B, 1), NEG)
    emit = mx.take_along_axis(lp, mx.broadcast_to(ext[:, None, :], (B, T, S)), axis=2)
    alpha = mx.concatenate([emit[:, 0, :2], mx.full((B, S - 2), NEG)], axis=1)
    for t in range(1, T):
        a1 = mx.concatenate([neg, alpha[:, :-1]], axis=1)
        a2 = mx.concatenate([neg, neg, alpha[:, :-2]], axis=1)
        a2 = mx.where(can_skip, a2, NEG)
        alpha = mx.logaddexp(mx.logaddexp(alpha, a1), a2) + emit[:, t, :]
    last = 2 * label_lens
    end = mx.logsumexp(mx.stack([mx.take_along_axis(alpha, last[:, None], axis=1)[:, 0],
                                 mx.take_along_axis(alpha, (last - 1)[:, None], axis=1)[:, 0]]), axis=0)
    return -end.mean()


def greedy_decode(logits):
    best = mx.argmax(logits, axis=-1).tolist()
    outs = []
    for row in best:
        seq, prev = [], -1
        for k in row:
            if k != prev and k != BLANK:
                seq.append(k)
            prev = k
        outs.append(seq)
    return outs


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
            prev = cur
    return d[-1]


def label_error_rate(model, x, labels, lens):
    hyps = greedy_decode(model(x))
    errs = tot = 0
    for h, lab, n in zip(hyps, labels.tolist(), lens.tolist()):
        errs += edit_distance(h, lab[:n])
        tot += n
    return errs / tot, hyps


def main():
    xtr, ytr, ltr = make_set(1600)
    xva, yva, lva = make_set(300)
    model = FrameNet()
    opt = optim.Adam(learning_rate=1e-3)
    vg = nn.value_and_grad(model, lambda m, x, y, l: ctc_loss(m(x), y, l))

    bs = 32
    t0 = time.time()
    step = 0
    ema = None
    for epoch in range(1, 4):
        perm = mx.random.permutation(xtr.shape[0])
        for i in range(0, xtr.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, xtr[idx], ytr[idx], ltr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
            if step % 20 == 0:
                ler, hyps = label_error_rate(model, xva, yva, lva)
                ref = "".join(ALPHABET[k - 1] for k in yva[0, :lva[0].item()].tolist())
                hyp = "".join(ALPHABET[k - 1] for k in hyps[0])
                print(f"[ep {epoch} it {step:4d}] ctc {ema:7.3f}  val LER {100 * ler:5.1f}%  "
                      f"ref={ref:<6s} hyp={hyp!r}  ({time.time() - t0:4.1f}s)")
    ler, _ = label_error_rate(model, xva, yva, lva)
    print(f"done: {step} updates, final val LER {100 * ler:.1f}%")


if __name__ == "__main__":
    main()
