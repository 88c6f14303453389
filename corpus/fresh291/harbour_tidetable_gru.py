"""Character GRU language model over a harbour tide-table text stream.

The stream is cut into overlapping windows (stride shorter than the window);
targets already scored by the previous window are masked, so every character
of the stream is scored exactly once.  Training runs in two sessions: the
first writes a checkpoint (weights + optimizer state), the second builds a
fresh model and optimizer, loads the checkpoint and carries on.
Output is InfluxDB line protocol.
"""
import math
import os
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
WINDOW = 32
STRIDE = 24
BATCH = 32
TOTAL_STEPS = 180
SESSION_ONE = 90
WARMUP = 30
PEAK_LR = 3e-3
T0 = 1_767_225_600_000_000_000  # constant nanosecond origin for line-protocol timestamps


def tide_lines(n_days, rng):
    """Synthetic tide-table lines: date, two high and two low waters."""
    lines = []
    minute = int(rng.integers(0, 180))
    for d in range(n_days):
        spring = 0.5 + 0.5 * math.cos(2 * math.pi * d / 14.77)
        parts = []
        for k in range(4):
            t = (minute % 1440)
            if k % 2 == 0:
                h = 4.2 + 1.3 * spring + rng.normal(0, 0.08)
                tag = "HW"
            else:
                h = 1.4 - 0.9 * spring + rng.normal(0, 0.08)
                tag = "LW"
            parts.append(f"{tag} {t // 60:02d}:{t % 60:02d} {h:.1f}m")
            minute += 372 + int(rng.integers(-6, 7))
        month = 1 + (d // 28) % 12
        day = 1 + d % 28
        lines.append(f"{month:02d}-{day:02d} " + " ".join(parts))
    return "\n".join(lines) + "\n"


def make_windows(ids, window, stride):
    """Overlapping windows of window+1 tokens; mask hides targets already scored."""
    xs, ys, ms = [], [], []
    start = 0
    first = True
    while start + window + 1 <= len(ids):
        chunk = ids[start:start + window + 1]
        xs.append(chunk[:-1])
        ys.append(chunk[1:])
        m = np.ones(window, dtype=np.float32)
        if not first:
            m[: window - stride] = 0.0
        ms.append(m)
        first = False
        start += stride
    return np.stack(xs), np.stack(ys), np.stack(ms)


class TideLM(nn.Module):
    def __init__(self, vocab, dim=24, hidden=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, hidden)
        self.head = nn.Linear(hidden, vocab)

    def __call__(self, x):
        return self.head(self.rnn(self.embed(x)))


def masked_nll_sum(model, x, y, m):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    return (ce * m).sum(), m.sum()


def loss_fn(model, x, y, m):
    total, count = masked_nll_sum(model, x, y, m)
    return total / count


def bits_per_char(model, X, Y, M, chunk=128):
    tot, cnt = 0.0, 0.0
    for i in range(0, len(X), chunk):
        s, c = masked_nll_sum(model, mx.array(X[i:i + chunk]), mx.array(Y[i:i + chunk]),
                              mx.array(M[i:i + chunk]))
        mx.eval(s, c)
        tot += s.item()
        cnt += c.item()
    return tot / cnt / math.log(2), int(cnt)


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 3e-4)],
        [WARMUP])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def line(measurement, tags, fields, step):
    tag_s = ",".join(f"{k}={v}" for k, v in tags.items())
    parts = []
    for k, v in fields.items():
        if isinstance(v, int):
            parts.append(f"{k}={v}i")
        else:
            parts.append(f"{k}={v:.5g}")
    print(f"{measurement},{tag_s} {','.join(parts)} {T0 + step * 1_000_000_000}")


def run_session(model, opt, start, stop, X, Y, M, Xv, Yv, Mv, rng, session, ref):
    lossgrad = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y, m):
        loss, grads = lossgrad(model, x, y, m)
        opt.update(model, grads)
        return loss

    window = []
    t0 = time.time()
    for step in range(start, stop):
        idx = rng.integers(0, len(X), size=BATCH)
        lr_now = float(opt.learning_rate.item()) if isinstance(opt.learning_rate, mx.array) else float(opt.learning_rate)
        xb, yb, mb = mx.array(X[idx]), mx.array(Y[idx]), mx.array(M[idx])
        if step == 0:
            _, grads = lossgrad(model, xb, yb, mb)
            leaves = tree_flatten(grads)
            nz = sum(1 for _, g in leaves if float(mx.abs(g).sum().item()) > 0)
            line("tides_gradcheck", {"session": session}, {"leaves": len(leaves), "nonzero": nz,
                                                          "lr": lr_now}, step)
        loss = train_step(xb, yb, mb)
        mx.eval(state, loss)
        window.append(loss.item() / math.log(2))
        done = step + 1
        if done in (1, 10) or done % 15 == 0 or done == stop:
            vb, _ = bits_per_char(model, Xv[:96], Yv[:96], Mv[:96])
            line("tides", {"session": session},
                 {"step": done, "lr": lr_now, "train_bpc": float(np.mean(window)),
                  "valid96_bpc": vb, "unigram_bpc": ref, "secs": time.time() - t0}, done)
            window = []


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    text = tide_lines(900, rng)
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.array([stoi[c] for c in text], dtype=np.int32)
    cut = int(0.9 * len(ids))
    X, Y, M = make_windows(ids[:cut], WINDOW, STRIDE)
    Xv, Yv, Mv = make_windows(ids[cut:], WINDOW, STRIDE)
    counts = np.bincount(ids[:cut], minlength=len(chars)) + 1
    p = counts / counts.sum()
    unigram = float(-(np.log2(p[ids[cut:]])).mean())

    line("tides_data", {"session": "setup"},
         {"chars": int(len(ids)), "vocab": len(chars), "train_windows": int(len(X)),
          "valid_windows": int(len(Xv)), "window": WINDOW, "stride": STRIDE,
          "unigram_bpc": unigram}, 0)

    model = TideLM(len(chars))
    mx.eval(model.parameters())
    opt = make_optimizer()
    vb0, scored = bits_per_char(model, Xv, Yv, Mv)
    line("tides_untrained", {"session": "setup"},
         {"valid_bpc": vb0, "scored_valid_chars": scored,
          "valid_stream_targets": int(len(ids) - cut - 1)}, 0)

    run_session(model, opt, 0, SESSION_ONE, X, Y, M, Xv, Yv, Mv, rng, "one", unigram)

    ckdir = tempfile.mkdtemp(prefix="tides_ck_")
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    probe = (mx.array(Xv[:64]), mx.array(Yv[:64]), mx.array(Mv[:64]))
    before = loss_fn(model, *probe).item()
    del model, opt

    model = TideLM(len(chars))
    model.load_weights(wpath)
    opt = make_optimizer()
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    after = loss_fn(model, *probe).item()
    line("tides_resume", {"session": "two"},
         {"probe_loss_before": before, "probe_loss_after": after,
          "optimizer_step": int(opt.state["step"].item())}, SESSION_ONE)

    run_session(model, opt, SESSION_ONE, TOTAL_STEPS, X, Y, M, Xv, Yv, Mv, rng, "two", unigram)

    vb, scored = bits_per_char(model, Xv, Yv, Mv)
    line("tides_done", {"session": "two"},
         {"valid_bpc": vb, "unigram_bpc": unigram, "scored_valid_chars": scored,
          "steps": TOTAL_STEPS}, TOTAL_STEPS)


if __name__ == "__main__":
    main()
