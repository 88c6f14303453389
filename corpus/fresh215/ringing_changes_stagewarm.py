# Change ringing (campanology) on six bells: learn to apply place notation.
# Input: the current row (which bell stands in each of 6 places) and up to two
# place-notation symbols; output: the row after the change(s).
# Three curriculum stages, each with its own optimizer whose lr warms up from 0.
import logging
import random
import itertools
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tower")

N = 6
NOTATIONS = ["x", "16", "12", "14", "36", "56"]
random.seed(7)
mx.random.seed(7)


def apply_pn(row, pn):
    stay = set() if pn == "x" else {int(c) - 1 for c in pn}
    out, i = list(row), 0
    while i < N:
        if i in stay:
            i += 1
        else:
            out[i], out[i + 1] = out[i + 1], out[i]
            i += 2
    return out


ALL_ROWS = list(itertools.permutations(range(N)))


def make_set(size, pns, depth):
    X, Y = [], []
    for _ in range(size):
        row = list(random.choice(ALL_ROWS))
        seq = [random.choice(pns) for _ in range(depth)]
        tgt = row
        for pn in seq:
            tgt = apply_pn(tgt, pn)
        feat = [0.0] * (N * N + 2 * len(NOTATIONS))
        for place, bell in enumerate(row):
            feat[place * N + bell] = 1.0
        for k, pn in enumerate(seq):
            feat[N * N + k * len(NOTATIONS) + NOTATIONS.index(pn)] = 1.0
        X.append(feat)
        Y.append(tgt)
    return mx.array(X), mx.array(Y, dtype=mx.int32)


class Ringer(nn.Module):
    def __init__(self):
        super().__init__()
        d_in = N * N + 2 * len(NOTATIONS)
        self.net = nn.Sequential(nn.Linear(d_in, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(),
                                 nn.Linear(256, N * N))

    def __call__(self, x):
        return self.net(x).reshape(-1, N, N)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def scores(model, x, y):
    pred = mx.argmax(model(x), axis=-1)
    bell = mx.mean(pred == y).item()
    row = mx.mean(mx.all(pred == y, axis=-1)).item()
    return bell, row


STAGES = [
    ("plain hunt", ["x", "16"], 1, 120),
    ("all places", NOTATIONS, 1, 160),
    ("two changes", NOTATIONS, 2, 260),
]

model = Ringer()
lg = nn.value_and_grad(model, loss_fn)
for s_idx, (title, pns, depth, steps) in enumerate(STAGES, 1):
    Xtr, Ytr = make_set(3000, pns, depth)
    Xva, Yva = make_set(600, pns, depth)
    sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-2, 40), optim.cosine_decay(1e-2, steps - 40, 5e-4)], [40])
    opt = optim.Adamax(learning_rate=sched)
    b0, r0 = scores(model, Xva, Yva)
    log.info("stage %d/3 '%s' begins: val bell-acc %.1f%% row-exact %.1f%% (chance %.1f%% / %.2f%%)",
             s_idx, title, 100 * b0, 100 * r0, 100 / N, 100 / 720)
    for step in range(steps):
        idx = mx.array(random.sample(range(3000), 128))
        loss, g = lg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == steps - 1:
            vl = loss_fn(model, Xva, Yva).item()
            b, r = scores(model, Xva, Yva)
            log.info("stage=%d step=%03d lr=%.2e train_xent=%.4f val_xent=%.4f bell=%.1f%% row=%.1f%%",
                     s_idx, step, opt.learning_rate.item(), loss.item(), vl, 100 * b, 100 * r)
log.info("peal complete; final row-exact on two-change touches %.1f%%", 100 * scores(model, Xva, Yva)[1])
