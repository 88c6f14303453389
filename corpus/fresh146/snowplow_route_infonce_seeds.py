"""Match snowplow telemetry traces to the road segment they were recorded on.

Two-tower contrastive model: a trace tower reads 16 readings of plow speed
along a segment, a segment tower reads the 6-field road-inventory record.
The first layer of the segment tower is a fixed random projection (kept
frozen on purpose, like a hashed feature map).  Trained with a symmetric
InfoNCE loss and a learnable temperature; three seeds are run back to back,
each warming its learning rate up from exactly 0.
"""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_TRAIN, N_TEST = 3000, 256
STEPS = 480
BATCH = 64
# how the hidden segment properties show up in the road-inventory record (fixed)
INVENTORY_MIX = mx.random.normal((4, 6), key=mx.random.key(7)) / 2.0


def make_segments(n, key):
    kz, kt, kn = mx.random.split(key, 3)
    # hidden segment properties: grade, curvature, priority, snow depth
    z = mx.random.normal((n, 4), key=kz)
    t = mx.linspace(0, 1, 16)[None, :]
    grade, curv, prio, snow = (z[:, i:i + 1] for i in range(4))
    speed = (45 + 6 * prio - 5 * snow - 4 * mx.abs(grade) * t
             - 7 * mx.tanh(curv) * mx.sin(6.28 * t * (1.5 + 0.5 * mx.tanh(grade)))
             + 3 * mx.random.normal((n, 16), key=kt))
    trace = (speed - 45.0) / 8.0
    record = mx.tanh(z @ INVENTORY_MIX) + 0.15 * mx.random.normal((n, 6), key=kn)
    return trace, record


class TwoTower(nn.Module):
    def __init__(self, dim=24):
        super().__init__()
        self.trace_net = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, dim))
        self.seg_proj = nn.Linear(6, 96)  # fixed random feature map (frozen)
        self.seg_head = nn.Sequential(nn.GELU(), nn.Linear(96, 64), nn.GELU(), nn.Linear(64, dim))
        self.log_tau = mx.array(mx.log(mx.array(0.2)))

    def embed(self, trace, record):
        a = self.trace_net(trace)
        b = self.seg_head(self.seg_proj(record))
        a = a / mx.linalg.norm(a, axis=-1, keepdims=True)
        b = b / mx.linalg.norm(b, axis=-1, keepdims=True)
        return a, b


def info_nce(model, trace, record):
    a, b = model.embed(trace, record)
    logits = (a @ b.T) / mx.exp(model.log_tau)
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


def recall_at_1(model, trace, record, k=1):
    a, b = model.embed(trace, record)
    sims = a @ b.T
    own = mx.diagonal(sims)[:, None]
    rank = mx.sum(sims > own, axis=1)  # how many segments beat the true one
    return 100.0 * mx.mean((rank < k).astype(mx.float32)).item()


def run_seed(seed, tr_trace, tr_rec, te_trace, te_rec):
    mx.random.seed(seed)
    model = TwoTower()
    model.seg_proj.freeze()
    frozen_before = mx.array(model.seg_proj.weight)
    warm = optim.linear_schedule(0.0, 0.08, 40)
    decay = optim.cosine_decay(0.08, STEPS - 40, 0.004)
    lr = optim.join_schedules([warm, decay], [40])
    opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    mx.eval(model.parameters())

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, info_nce)(model, x, y)
        opt.update(model, grads)
        return loss

    running = None
    for it in range(STEPS):
        idx = mx.random.randint(0, N_TRAIN, (BATCH,))
        loss = step(tr_trace[idx], tr_rec[idx])
        mx.eval(state, loss)
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        if it % 60 == 0 or it == STEPS - 1:
            r1 = recall_at_1(model, te_trace, te_rec)
            r10 = recall_at_1(model, te_trace, te_rec, k=10)
            print(f"[seed {seed}] step {it:04d} lr {opt.learning_rate.item():.4f} "
                  f"nce {running:.3f} tau {mx.exp(model.log_tau).item():.3f} "
                  f"r@1 {r1:5.1f}% r@10 {r10:5.1f}% (chance {100.0 / N_TEST:.1f}% / {1000.0 / N_TEST:.1f}%)")

    _, grads = nn.value_and_grad(model, info_nce)(model, tr_trace[:BATCH], tr_rec[:BATCH])
    norms = {k: mx.linalg.norm(g.reshape(-1)).item() for k, g in tree_flatten(grads)}
    drift = mx.max(mx.abs(model.seg_proj.weight - frozen_before)).item()
    print(f"[seed {seed}] audit: {len(norms)} trainable tensors, min |g| {min(norms.values()):.2e}, "
          f"frozen seg_proj max change {drift:.1e}")
    return running, recall_at_1(model, te_trace, te_rec), mx.exp(model.log_tau).item()


def main():
    key = mx.random.key(2026)
    k1, k2 = mx.random.split(key)
    tr_trace, tr_rec = make_segments(N_TRAIN, k1)
    te_trace, te_rec = make_segments(N_TEST, k2)
    mx.eval(tr_trace, tr_rec, te_trace, te_rec)

    rows = []
    for seed in (11, 22, 33):
        rows.append((seed,) + run_seed(seed, tr_trace, tr_rec, te_trace, te_rec))

    print()
    print("| seed | final nce | recall@1 | tau   |")
    print("|------|-----------|----------|-------|")
    for s, l, r, t in rows:
        print(f"| {s:4d} | {l:9.3f} | {r:7.1f}% | {t:.3f} |")
    mean_r = sum(r for _, _, r, _ in rows) / len(rows)
    print(f"| mean |           | {mean_r:7.1f}% |       |")


if __name__ == "__main__":
    main()
