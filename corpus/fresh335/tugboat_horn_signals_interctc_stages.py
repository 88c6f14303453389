"""Harbour master's logger: transcribe tugboat horn / whistle signals from hydrophone band energies.

Model    : 4 residual dilated TDNN blocks (spliced frames + Linear); an extra CTC head reads block 2
           (intermediate CTC, loss = 0.7 * final + 0.3 * intermediate, sharing the output layer).
Optimizer: optim.Lion, cosine with a warm restart at each curriculum stage.
Curriculum: stage 'short' clips hold 1-2 signals, stage 'long' clips hold 3-5 signals,
           so the per-clip CTC loss is expected to jump when the stage changes.
Logging  : every 20 steps in stage 'short', only at the end of each epoch in stage 'long'.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SIGNALS = ["starboard", "port", "astern", "danger", "overtake", "ack", "hold"]
N_SYM = len(SIGNALS) + 1        # 0 = blank
BANDS, T = 12, 32
MAXU = 5

gen = np.random.default_rng(3351)
PROFILES = gen.normal(0, 1, size=(len(SIGNALS), BANDS)).astype(np.float32)
DURS = gen.integers(1, 4, size=len(SIGNALS))          # signal-specific blast length


def make_clips(n, umin, umax, seed):
    r = np.random.default_rng(seed)
    x = r.normal(0, 0.6, size=(n, T, BANDS)).astype(np.float32)
    x += np.linspace(-0.3, 0.3, T)[None, :, None] * r.normal(0, 1, size=(n, 1, 1))   # slow drift
    y = np.zeros((n, MAXU), np.int32)
    ulen = np.zeros(n, np.int32)
    for i in range(n):
        u = int(r.integers(umin, umax + 1))
        seq = r.integers(1, N_SYM, size=u)
        t = int(r.integers(0, 3))
        for s in seq:
            d = int(DURS[s - 1]) + int(r.integers(0, 2))
            env = np.hanning(d + 2)[1:-1][:, None]
            x[i, t:t + d] += 1.1 * env * PROFILES[s - 1]
            t += d + 1
        y[i, :u] = seq
        ulen[i] = u
    return x, y, ulen


class Block(nn.Module):
    """TDNN layer: frames t-d, t, t+d spliced and mixed by one Linear (a dilated kernel-3 conv)."""

    def __init__(self, ch, dil):
        super().__init__()
        self.dil = dil
        self.mix = nn.Linear(3 * ch, ch)
        self.norm = nn.LayerNorm(ch)

    def __call__(self, h):
        d = self.dil
        z = mx.zeros_like(h[:, :d])
        left = mx.concatenate([z, h[:, :-d]], axis=1)
        right = mx.concatenate([h[:, d:], z], axis=1)
        return h + nn.silu(self.norm(self.mix(mx.concatenate([left, h, right], axis=-1))))


class HornTDNN(nn.Module):
    def __init__(self, ch=64):
        super().__init__()
        self.inp = nn.Linear(BANDS, ch)
        self.blocks = [Block(ch, d) for d in (1, 2, 4, 1)]
        self.out = nn.Linear(ch, N_SYM)

    def __call__(self, x):
        h = self.inp(x)
        mid = None
        for k, b in enumerate(self.blocks):
            h = b(h)
            if k == 1:
                mid = h
        return self.out(h), self.out(mid)


def ctc_nll(logits, y, ulen):
    """Per-clip -log p(y|x) by the CTC forward recursion over the blank-interleaved labels."""
    B, TT, _ = logits.shape
    lp = nn.log_softmax(logits, axis=-1)
    S = 2 * MAXU + 1
    lab = mx.zeros((B, S), mx.int32).at[:, 1::2].add(y)
    same = mx.concatenate([mx.ones((B, 2), mx.bool_), lab[:, 2:] == lab[:, :-2]], axis=1)
    can_skip = (lab != 0) & ~same
    em = mx.take_along_axis(lp, mx.broadcast_to(lab[:, None, :], (B, TT, S)), axis=-1)
    ninf = mx.array(-1e9, mx.float32)
    pos = mx.arange(S)[None, :]
    a = mx.where(pos < 2, em[:, 0], ninf)
    for t in range(1, TT):
        sh1 = mx.pad(a[:, :-1], [(0, 0), (1, 0)], constant_values=-1e9)
        sh2 = mx.where(can_skip, mx.pad(a[:, :-2], [(0, 0), (2, 0)], constant_values=-1e9), ninf)
        a = mx.logaddexp(mx.logaddexp(a, sh1), sh2) + em[:, t]
    e = (2 * ulen)[:, None]
    fin = mx.logaddexp(mx.take_along_axis(a, e, 1), mx.take_along_axis(a, e - 1, 1))[:, 0]
    return -fin


def loss_fn(model, x, y, ulen):
    final, inter = model(x)
    lf = ctc_nll(final, y, ulen).mean()
    li = ctc_nll(inter, y, ulen).mean()
    return 0.7 * lf + 0.3 * li, (lf, li)


def collapse(path):
    out, prev = [], 0
    for p in path:
        if p != prev and p != 0:
            out.append(int(p))
        prev = p
    return out


def levenshtein(a, b):
    m = np.arange(len(b) + 1)
    for i, ca in enumerate(a, 1):
        nxt = np.empty_like(m)
        nxt[0] = i
        for j, cb in enumerate(b, 1):
            nxt[j] = min(m[j] + 1, nxt[j - 1] + 1, m[j - 1] + (ca != cb))
        m = nxt
    return int(m[-1])


def evaluate(model, data, head=0):
    x, y, ulen = data
    logits = model(mx.array(x))[head]
    paths = np.array(mx.argmax(logits, axis=-1))
    errs = sum(levenshtein(collapse(p), list(y[i, :ulen[i]])) for i, p in enumerate(paths))
    nll = ctc_nll(logits, mx.array(y), mx.array(ulen)).mean().item()
    return errs / ulen.sum(), nll


def main():
    t0 = time.time()
    mx.random.seed(11)
    stages = [("short", 1, 2, 4), ("long", 3, 5, 4)]          # name, umin, umax, epochs
    batch, n_train = 32, 1280
    steps_per_epoch = n_train // batch
    model = HornTDNN()
    print(f"parameters: {sum(v.size for _, v in tree_flatten(model.parameters()))}")
    vals = {name: make_clips(300, lo, hi, 900 + k) for k, (name, lo, hi, _) in enumerate(stages)}
    for name, (vx, vy, vl) in vals.items():
        # baseline: a logger that writes nothing
        print(f"baseline [{name}] empty-transcript TER 1.000 over {vl.sum()} signals")

    lg = nn.value_and_grad(model, loss_fn)
    gstep = 0
    for k, (name, lo, hi, epochs) in enumerate(stages):
        total = epochs * steps_per_epoch
        opt = optim.Lion(learning_rate=optim.cosine_decay(1.5e-3, total, 5e-5), weight_decay=1e-2)
        state = [model.state, opt.state]

        @partial(mx.compile, inputs=state, outputs=state)
        def train_step(xb, yb, ub):
            (loss, (lf, li)), g = lg(model, xb, yb, ub)
            opt.update(model, g)
            return loss, lf, li

        print(f"== stage {name}: {lo}-{hi} signals per clip, {epochs} epochs, lr restarts at 1.5e-03")
        for ep in range(epochs):
            x, y, ul = make_clips(n_train, lo, hi, 100 * k + ep)
            perm = np.random.default_rng(ep + 17 * k).permutation(n_train)
            run = []
            for s in range(steps_per_epoch):
                idx = perm[s * batch:(s + 1) * batch]
                loss, lf, li = train_step(mx.array(x[idx]), mx.array(y[idx]), mx.array(ul[idx]))
                mx.eval(state)
                run.append(loss.item())
                if name == "short" and gstep % 20 == 0:
                    print(f"step {gstep:4d} [{name}] loss {loss.item():.3f} final {lf.item():.3f} "
                          f"inter {li.item():.3f}")
                gstep += 1
            ter, nll = evaluate(model, vals[name])
            ter_mid, _ = evaluate(model, vals[name], head=1)
            print(f"epoch {ep} [{name}] step {gstep} train loss {np.mean(run):.3f}  val nll/clip {nll:.3f}  "
                  f"val TER {ter:.3f} (intermediate head {ter_mid:.3f})")
    for name in vals:
        ter, nll = evaluate(model, vals[name])
        print(f"final [{name}] val TER {ter:.3f}  nll/clip {nll:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
