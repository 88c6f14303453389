# Tram depot stop-announcement logs. Each run log starts with a route token and
# then lists stops in that route's order (the announcer sometimes reads a random
# stop). Logs of different lengths are packed end to end into 40-token rows; the
# recurrent state is cleared at every log start, and the route token itself and
# the row padding are not scored.
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(353)
mx.random.seed(353)
N_ROUTES, N_STOPS = 6, 12
ROUTE0 = N_STOPS              # route tokens 12..17
PAD = N_STOPS + N_ROUTES      # 18
VOCAB = PAD + 1
MISREAD = 0.10
ROW = 40
ORDERS = [rng.permutation(N_STOPS) for _ in range(N_ROUTES)]


def one_log():
    r = int(rng.integers(N_ROUTES))
    n = int(rng.integers(5, 17))
    start = int(rng.integers(N_STOPS))
    stops = [int(ORDERS[r][(start + i) % N_STOPS]) for i in range(n)]
    stops = [int(rng.integers(N_STOPS)) if rng.random() < MISREAD else s for s in stops]
    return [ROUTE0 + r] + stops


def packed_rows(n_rows):
    toks = np.full((n_rows, ROW + 1), PAD, np.int32)
    starts = np.zeros((n_rows, ROW + 1), np.float32)
    scored = np.zeros((n_rows, ROW + 1), np.float32)
    for i in range(n_rows):
        j = 0
        while True:
            log = one_log()
            if j + len(log) > ROW + 1:
                break
            toks[i, j:j + len(log)] = log
            starts[i, j] = 1.0
            scored[i, j + 1:j + len(log)] = 1.0
            j += len(log)
    # inputs are positions 0..ROW-1, targets 1..ROW
    return (mx.array(toks[:, :-1]), mx.array(toks[:, 1:]),
            mx.array(starts[:, :-1]), mx.array(scored[:, 1:]))


class ResetGRU(nn.Module):
    def __init__(self, d_in, d_h):
        super().__init__()
        self.d_h = d_h
        self.wx = nn.Linear(d_in, 3 * d_h)
        self.wh = nn.Linear(d_h, 3 * d_h, bias=False)

    def __call__(self, x, starts):
        B, T, _ = x.shape
        gx = self.wx(x)
        h = mx.zeros((B, self.d_h))
        outs = []
        for t in range(T):
            h = h * (1.0 - starts[:, t:t + 1])
            gh = self.wh(h)
            zr = mx.sigmoid(gx[:, t, :2 * self.d_h] + gh[:, :2 * self.d_h])
            z, r = zr[:, :self.d_h], zr[:, self.d_h:]
            n = mx.tanh(gx[:, t, 2 * self.d_h:] + r * gh[:, 2 * self.d_h:])
            h = (1 - z) * n + z * h
            outs.append(h)
        return mx.stack(outs, axis=1)


class Announcer(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 24)
        self.gru = ResetGRU(24, 48)
        self.head = nn.Linear(48, N_STOPS)

    def __call__(self, x, starts):
        return self.head(self.gru(self.emb(x), starts))


def loss_fn(model, x, y, starts, scored):
    logits = model(x, starts)
    tgt = mx.where(scored > 0, y, 0)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    return (ce * scored).sum() / scored.sum()


def log(**kv):
    print(" ".join(f"{k}={v}" for k, v in kv.items()))


# entropy floor: the first stop of a log is uniform, later stops follow the route order
p_hit = (1 - MISREAD) + MISREAD / N_STOPS
p_miss = MISREAD / N_STOPS
h_follow = -(p_hit * math.log(p_hit) + (N_STOPS - 1) * p_miss * math.log(p_miss))
mean_len = np.mean([len(one_log()) - 1 for _ in range(4000)])
floor = (math.log(N_STOPS) + (mean_len - 1) * h_follow) / mean_len

VAL = packed_rows(128)
TOTAL, WARM, HALF, PEAK = 360, 30, 180, 4e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 2e-4)], [WARM])

t0 = time.time()
model = Announcer()
opt = optim.Adam(learning_rate=sched)
mx.eval(model.parameters())
log(level="info", msg="start", params=sum(v.size for _, v in tree_flatten(model.parameters())),
    rows_per_step=24, row_len=ROW, floor_nats=f"{floor:.4f}", uniform_nats=f"{math.log(N_STOPS):.4f}")


def run(model, opt, first, last, ckpt_dir=None):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(first, last + 1):
        x, y, st, sc = packed_rows(24)
        lr_now = float(sched(opt.step))
        loss, grads = step_fn(model, x, y, st, sc)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 30 == 0:
            vl = loss_fn(model, *VAL).item()
            log(level="info", step=step, lr=f"{lr_now:.2e}", train_nats=f"{loss.item():.4f}",
                val_nats=f"{vl:.4f}", gap_to_floor=f"{vl - floor:+.4f}", elapsed_s=f"{time.time() - t0:.1f}")
        if ckpt_dir is not None and step == last:
            model.save_weights(os.path.join(ckpt_dir, "announcer.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
            log(level="info", msg="checkpoint", step=step)


with tempfile.TemporaryDirectory() as tmp:
    run(model, opt, 1, HALF, ckpt_dir=tmp)
    before = loss_fn(model, *VAL).item()
    del model, opt
    model = Announcer()
    model.load_weights(os.path.join(tmp, "announcer.safetensors"))
    opt = optim.Adam(learning_rate=sched)
    opt.state = tree_unflatten(list(mx.load(os.path.join(tmp, "opt.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    after = loss_fn(model, *VAL).item()
    log(level="info", msg="resumed", opt_step=int(opt.step.item()), val_delta=f"{after - before:+.6f}")
    run(model, opt, HALF + 1, TOTAL)

final = loss_fn(model, *VAL).item()
log(level="info", msg="done", val_nats=f"{final:.4f}", floor_nats=f"{floor:.4f}",
    uniform_nats=f"{math.log(N_STOPS):.4f}", seconds=f"{time.time() - t0:.1f}")
