"""Herbarium sheet sorting: 8 plant families arrive as a single-pass stream in 4 waves
of 2 families (online class-incremental).  Learner: GELU MLP with ER-ACE
(asymmetric cross-entropy: incoming batches only compete among the classes they
contain, replayed batches from a reservoir buffer use every class seen so far).

A plain streaming fine-tune on the same stream is printed beside it as a reference.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 11
N_FEAT, N_CLS, WAVES = 16, 8, 4
PER_CLASS_TRAIN, PER_CLASS_TEST = 900, 250
BATCH, BUF_SIZE, LR = 10, 400, 0.05
NEG = -1e9

rng = np.random.default_rng(SEED)

centres = rng.normal(size=(N_CLS, N_FEAT)) * 0.75
warp = rng.normal(size=(N_FEAT, N_FEAT)) / np.sqrt(N_FEAT)


def draw(c, n):
    x = centres[c] + rng.normal(size=(n, N_FEAT))
    x = x + 0.3 * np.tanh(x @ warp)
    return x.astype(np.float32), np.full(n, c, dtype=np.int32)


train_waves, test_sets = [], []
for w in range(WAVES):
    parts = [draw(c, PER_CLASS_TRAIN) for c in (2 * w, 2 * w + 1)]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    order = rng.permutation(len(y))
    train_waves.append((x[order], y[order]))
for c in range(N_CLS):
    test_sets.append(draw(c, PER_CLASS_TEST))


class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 96), nn.GELU(),
                                  nn.Linear(96, 96), nn.GELU())
        self.out = nn.Linear(96, N_CLS)

    def __call__(self, x):
        return self.out(self.body(x))


def masked_ce(logits, y, mask):
    logits = mx.where(mask, logits, NEG)
    return nn.losses.cross_entropy(logits, y, reduction="sum")


def erace_loss(model, xin, yin, in_mask, xbuf, ybuf, seen_mask):
    loss = masked_ce(model(xin), yin, in_mask)
    n = xin.shape[0]
    if xbuf is not None:
        loss = loss + masked_ce(model(xbuf), ybuf, seen_mask)
        n = n + xbuf.shape[0]
    return loss / n


def plain_loss(model, xin, yin):
    return nn.losses.cross_entropy(model(xin), yin, reduction="mean")


def wave_accuracy(model, w):
    xs = np.concatenate([test_sets[c][0] for c in (2 * w, 2 * w + 1)])
    ys = np.concatenate([test_sets[c][1] for c in (2 * w, 2 * w + 1)])
    pred = mx.argmax(model(mx.array(xs)), axis=1)
    return float(mx.mean(pred == mx.array(ys)).item())


class Reservoir:
    def __init__(self, size):
        self.size, self.seen = size, 0
        self.x = np.zeros((size, N_FEAT), np.float32)
        self.y = np.zeros(size, np.int32)

    def add(self, xb, yb):
        for xi, yi in zip(xb, yb):
            if self.seen < self.size:
                slot = self.seen
            else:
                slot = rng.integers(0, self.seen + 1)
            if slot < self.size:
                self.x[slot], self.y[slot] = xi, yi
            self.seen += 1

    def sample(self, n):
        fill = min(self.seen, self.size)
        idx = rng.integers(0, fill, size=n)
        return self.x[idx], self.y[idx]


def run_stream(use_replay):
    mx.random.seed(SEED)
    model = Sorter()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=LR)
    buf = Reservoir(BUF_SIZE)
    vg = nn.value_and_grad(model, erace_loss if use_replay else plain_loss)
    acc = np.zeros((WAVES, WAVES))
    seen = np.zeros(N_CLS, bool)
    tag = "er-ace" if use_replay else "plain "
    for w in range(WAVES):
        xw, yw = train_waves[w]
        seen[[2 * w, 2 * w + 1]] = True
        seen_mask = mx.array(seen)
        window = []
        for i in range(0, len(yw), BATCH):
            xb, yb = xw[i:i + BATCH], yw[i:i + BATCH]
            if use_replay:
                present = np.zeros(N_CLS, bool)
                present[np.unique(yb)] = True
                if buf.seen > 0:
                    xr, yr = buf.sample(BATCH)
                    xr, yr = mx.array(xr), mx.array(yr)
                else:
                    xr = yr = None
                loss, grads = vg(model, mx.array(xb), mx.array(yb), mx.array(present),
                                 xr, yr, seen_mask)
                buf.add(xb, yb)
            else:
                loss, grads = vg(model, mx.array(xb), mx.array(yb))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            window.append(loss.item())
            step = i // BATCH
            if use_replay and step in (0, 179):
                print(f"  [{tag}] wave {w + 1} batch {step:3d}  loss(last 20) {np.mean(window[-20:]):.4f}")
        for j in range(WAVES):
            acc[w, j] = wave_accuracy(model, j) if j <= w else np.nan
        row = "  ".join(f"w{j + 1} {acc[w, j]:.3f}" if j <= w else f"w{j + 1}   -  " for j in range(WAVES))
        seen_avg = np.nanmean(acc[w, : w + 1])
        print(f"  [{tag}] after wave {w + 1}: {row}   seen-avg {seen_avg:.3f} (chance {1 / (2 * (w + 1)):.3f})")
    final = np.nanmean(acc[-1])
    forget = np.mean([np.nanmax(acc[:WAVES - 1, j]) - acc[-1, j] for j in range(WAVES - 1)])
    return final, forget, buf.seen


def main():
    t0 = time.time()
    print(f"stream: {WAVES} waves x {2 * PER_CLASS_TRAIN} sheets, batch {BATCH}, one pass; "
          f"reservoir {BUF_SIZE}")
    print("-- ER-ACE learner")
    f_er, fg_er, n_seen = run_stream(True)
    print("-- plain streaming reference (no memory)")
    f_pl, fg_pl, _ = run_stream(False)
    print(f"final accuracy over 8 families: er-ace {f_er:.3f}  plain {f_pl:.3f}  chance {1 / N_CLS:.3f}")
    print(f"average forgetting: er-ace {fg_er:.3f}  plain {fg_pl:.3f}")
    print(f"sheets offered to reservoir {n_seen}, kept {BUF_SIZE}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
