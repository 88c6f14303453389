"""Rain-watch telegrams: pick the asked reading out of a gauge-observer telegram.

A telegram is a run of station reports:  STATION  R d d  W d  ;
(R = rain field, W = wind field, d = digit tokens, 1-3 rain digits, 1-2 wind
digits).  The question is (station, field); the answer is the digit span of that
field in that station's report.

Spans are scored jointly: every (start, end) pair with end - start < 3 gets
    score = a . h_start + b . h_end + width_bias[end - start]
and one softmax runs over all valid pairs of the telegram.  The printed
quantity is the mean log-likelihood of the gold span (negative, rising to 0).

Curriculum over telegram length: 3 -> 6 -> 9 reports (batches are padded to
the stage's longest telegram).  Stage 2 runs quietly and prints only its
closing summary.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)

PAD, QSEP, RAIN, WIND, SEMI = 0, 1, 2, 3, 4
DIG0 = 5                      # 10 digit tokens
ST0 = DIG0 + 10               # 24 station tokens
N_ST = 24
VOCAB = ST0 + N_ST
MAXW = 3
REPORT_MAX = 9                # station + 2 fields + 5 digits + ';'
Q_LEN = 3                     # station, field, QSEP


def telegram(n_reports):
    stations = rng.choice(N_ST, size=n_reports, replace=False) + ST0
    toks, where = [], {}
    for s in stations:
        toks.append(int(s))
        for field, lo, hi in ((RAIN, 1, 3), (WIND, 1, 2)):
            toks.append(field)
            k = int(rng.integers(lo, hi + 1))
            start = len(toks)
            toks.extend(int(d) for d in rng.integers(0, 10, size=k) + DIG0)
            where[(int(s), field)] = (start, start + k - 1)
        toks.append(SEMI)
    s = int(rng.choice(stations))
    f = int(rng.choice([RAIN, WIND]))
    a, b = where[(s, f)]
    ctx = n_reports * REPORT_MAX
    ids = [s, f, QSEP] + toks + [PAD] * (ctx - len(toks))
    return ids, a + Q_LEN, b + Q_LEN, toks


def batch(n, n_reports):
    rows = [telegram(n_reports) for _ in range(n)]
    ids = mx.array(np.array([r[0] for r in rows], dtype=np.int32))
    s = mx.array(np.array([r[1] for r in rows], dtype=np.int32))
    e = mx.array(np.array([r[2] for r in rows], dtype=np.int32))
    return ids, s, e, rows


class GridReader(nn.Module):
    def __init__(self, dims=16, width=24):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.c1 = nn.Conv1d(dims + 2, width, 3, padding=1)
        self.c2 = nn.Conv1d(width, width, 3, padding=2, dilation=2)
        self.c3 = nn.Conv1d(width, width, 3, padding=4, dilation=4)
        self.a = nn.Linear(width, 1)
        self.b = nn.Linear(width, 1)
        self.width_bias = mx.zeros((MAXW,))

    def __call__(self, ids):
        st_match = (ids == ids[:, 0:1]).astype(mx.float32)[..., None]
        fd_match = (ids == ids[:, 1:2]).astype(mx.float32)[..., None]
        h = mx.concatenate([self.tok(ids), st_match, fd_match], axis=-1)
        h = nn.gelu(self.c1(h))
        h = nn.gelu(self.c2(h)) + h
        h = nn.gelu(self.c3(h)) + h
        sa = self.a(h)[..., 0]                     # (B, T)
        sb = self.b(h)[..., 0]
        T = ids.shape[1]
        valid_tok = (ids != PAD) & (mx.arange(T) >= Q_LEN)[None]
        grids = []
        for w in range(MAXW):
            end_ok = mx.concatenate(
                [valid_tok[:, w:], mx.zeros((ids.shape[0], w), dtype=mx.bool_)], axis=1)
            sb_shift = mx.concatenate(
                [sb[:, w:], mx.zeros((ids.shape[0], w))], axis=1)
            g = sa + sb_shift + self.width_bias[w]
            grids.append(mx.where(valid_tok & end_ok, g, -1e9))
        return mx.stack(grids, axis=-1).reshape(ids.shape[0], -1)   # (B, T*MAXW)


def span_loglik(model, ids, s, e):
    grid = model(ids)
    gold = s * MAXW + (e - s)
    logp = grid - mx.logsumexp(grid, axis=-1, keepdims=True)
    return mx.take_along_axis(logp, gold[:, None], axis=-1).mean()


def loss_fn(model, ids, s, e):
    return -span_loglik(model, ids, s, e)


def exact_match(model, n_reports, n=256):
    ids, s, e, rows = batch(n, n_reports)
    flat = mx.argmax(model(ids), axis=-1)
    ps, pw = flat // MAXW, flat % MAXW
    em = ((ps == s) & (ps + pw == e)).astype(mx.float32).mean().item()
    # reference: first digit run after the asked station, ignoring the field
    hit = 0
    for r in rows:
        ids_r = r[0]
        p = ids_r.index(ids_r[0], Q_LEN) + 2
        q = p
        while DIG0 <= ids_r[q + 1] < ST0:
            q += 1
        hit += int((p, q) == (r[1], r[2]))
    return em, hit / n


model = GridReader()
opt = optim.Adamax(learning_rate=optim.exponential_decay(4e-3, 0.999))
step_fn = nn.value_and_grad(model, loss_fn)
print("chance log-lik for 9 reports ~", f"{-np.log(9 * REPORT_MAX * MAXW):.2f}")

STAGES = [(3, 120, True), (6, 80, False), (9, 100, True)]
t0 = time.time()
step = 0
for stage, (n_rep, n_steps, loud) in enumerate(STAGES, 1):
    print(f"== stage {stage}: {n_rep} reports per telegram, {n_steps} steps"
          + ("" if loud else " (quiet)"))
    hist = []
    for k in range(n_steps):
        ids, s, e, _ = batch(32, n_rep)
        loss, g = step_fn(model, ids, s, e)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        hist.append(-loss.item())
        if loud and (k % 20 == 0 or k == n_steps - 1):
            print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  "
                  f"span log-lik {hist[-1]:8.4f}")
        step += 1
    em, ref = exact_match(model, n_rep)
    print(f"stage {stage} done  first-20 mean log-lik {np.mean(hist[:20]):.3f}  "
          f"last-20 {np.mean(hist[-20:]):.3f}  EM {em:.3f}  "
          f"(field-blind reference EM {ref:.3f})")

em9, ref9 = exact_match(model, 9, n=256)
print(f"final  9-report EM {em9:.3f}  field-blind reference {ref9:.3f}  "
      f"time {time.time() - t0:.1f}s")
