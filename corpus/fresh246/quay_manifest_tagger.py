"""BIO slot tagging of quay manifest lines (VESSEL / PORT / CARGO spans).

A bidirectional GRU tagger (forward GRU + GRU over the reversed sequence)
over right-padded token ids.  The token loss ignores pad positions.  The run
is silent while it trains and prints three checkpoints, then a span-level
report next to a gazetteer lookup baseline.  Ambiguous words (a port that is
also a vessel name) and 4% tag slips keep the token loss above zero.
The optimizer is SGD with Nesterov momentum under two cosine cycles, so the
learning rate jumps back up at the restart.
"""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
TAGS = ["O", "B-VES", "I-VES", "B-PORT", "I-PORT", "B-CARGO", "I-CARGO"]
T2I = {t: i for i, t in enumerate(TAGS)}
PAD = 0
FILL = list(range(1, 40))        # filler words
VES = list(range(40, 70))        # vessel name words
PORT = list(range(60, 90))       # port words (60..69 shared with vessels)
CARGO = list(range(90, 120))     # cargo words
VOCAB, MAXLEN = 120, 20


def span(words, kind):
    n = rng.integers(1, 3)
    toks = list(rng.choice(words, n, replace=False))
    tags = [T2I["B-" + kind]] + [T2I["I-" + kind]] * (n - 1)
    return toks, tags


def make(n, slip=0.0):
    X = np.zeros((n, MAXLEN), np.int32)
    Y = np.zeros((n, MAXLEN), np.int32)
    for r in range(n):
        parts = [span(VES, "VES"), span(PORT, "PORT"), span(CARGO, "CARGO")]
        rng.shuffle(parts)
        toks, tags = [], []
        for p in parts:
            k = rng.integers(0, 3)
            toks += list(rng.choice(FILL, k)); tags += [0] * k
            toks += p[0]; tags += p[1]
        toks, tags = toks[:MAXLEN], tags[:MAXLEN]
        X[r, :len(toks)] = toks
        Y[r, :len(tags)] = tags
    flip = (rng.random(Y.shape) < slip) & (X != PAD)
    Y[flip] = rng.integers(0, len(TAGS), flip.sum())
    return X, Y


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 32)
        self.fwd = nn.GRU(32, 32)
        self.bwd = nn.GRU(32, 32)
        self.out = nn.Linear(64, len(TAGS))

    def __call__(self, x):
        e = self.emb(x)
        hf = self.fwd(e)
        hb = self.bwd(e[:, ::-1])[:, ::-1]
        return self.out(mx.concatenate([hf, hb], axis=-1))


def loss_fn(model, x, y):
    logits = model(x)
    mask = (x != PAD).astype(mx.float32)
    tok = nn.losses.cross_entropy(logits, y, reduction="none")
    return (tok * mask).sum() / mask.sum()


def spans(tags):
    out, cur = set(), None
    for i, t in enumerate(list(tags) + [0]):
        name = TAGS[t]
        if cur and not name.startswith("I-" + cur[0]):
            out.add((cur[0], cur[1], i)); cur = None
        if name.startswith("B-"):
            cur = (name[2:], i)
    return out


def span_f1(P, Y, X):
    tp = fp = fn = 0
    for p, y, x in zip(P, Y, X):
        n = int((x != PAD).sum())
        ps, ys = spans(p[:n]), spans(y[:n])
        tp += len(ps & ys); fp += len(ps - ys); fn += len(ys - ps)
    return 2 * tp / max(2 * tp + fp + fn, 1)


def gazetteer(X):
    P = np.zeros_like(X)
    for r, row in enumerate(X):
        prev = None
        for i, w in enumerate(row):
            kind = "VES" if w in VES and w not in PORT else "PORT" if w in PORT else "CARGO" if w in CARGO else None
            if kind is None:
                prev = None; continue
            P[r, i] = T2I[("I-" if prev == kind else "B-") + kind]; prev = kind
    return P


def main():
    mx.random.seed(5)
    Xtr, Ytr = make(4000, slip=0.04)
    Xva, Yva = make(800)
    model = Tagger()
    mx.eval(model.parameters())
    cycle = 300
    sched = optim.join_schedules(
        [optim.cosine_decay(0.5, cycle, 0.01), optim.cosine_decay(0.5, cycle, 0.005)], [cycle])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    step_fn = nn.value_and_grad(model, loss_fn)
    X, Y = mx.array(Xtr), mx.array(Ytr)
    t0, step, log = time.time(), 0, []
    while step < 2 * cycle:
        for s in np.array_split(rng.permutation(len(Xtr)), len(Xtr) // 50):
            idx = mx.array(s)
            loss, g = step_fn(model, X[idx], Y[idx])
            g, _ = optim.clip_grad_norm(g, 5.0)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            if step in (1, cycle, cycle + 1, 2 * cycle):
                log.append((step, opt.learning_rate.item(), loss.item()))
            if step >= 2 * cycle:
                break
    P = np.array(mx.argmax(model(mx.array(Xva)), axis=-1))
    vloss = loss_fn(model, mx.array(Xva), mx.array(Yva)).item()
    print("quay manifest tagger report")
    for s, lr, l in log:
        print(f"  step {s:4d}  lr {lr:.3f}  batch token-CE {l:.4f}")
    print(f"  valid token-CE {vloss:.4f}")
    print(f"  valid span F1 {span_f1(P, Yva, Xva):.3f}   gazetteer span F1 {span_f1(gazetteer(Xva), Yva, Xva):.3f}")
    print(f"  {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
