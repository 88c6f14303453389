"""Dawn-chorus monitoring station: a call classifier that learns new bird species season by
season (class-incremental).  Each season brings 4 new species; the output layer gains 4 rows,
and a rehearsal store keeps 60 example calls of every species seen so far, so the store grows
by 240 calls a season until the last season and then stays as it is.
"""
import logging
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("station")

rng = np.random.default_rng(11)
mx.random.seed(11)

D, SEASONS, PER_SEASON = 40, 5, 4
N_SPECIES = SEASONS * PER_SEASON
KEEP = 60
STEPS, BS = 220, 96

# each species: two call types (modes) in a 40-band feature space, passed through a fixed warp
centres = rng.normal(0, 1.0, (N_SPECIES, 2, D))
warp = rng.normal(0, 1 / np.sqrt(D), (D, D))


def calls(species, n):
    mode = rng.integers(0, 2, n)
    x = centres[species, mode] + rng.normal(0, 0.9, (n, D))
    return np.tanh(x @ warp * 1.5).astype(np.float32) + 0.05 * rng.normal(size=(n, D)).astype(np.float32)


def season_data(s, n_per):
    ys = np.repeat(np.arange(s * PER_SEASON, (s + 1) * PER_SEASON), n_per)
    xs = np.concatenate([calls(c, n_per) for c in range(s * PER_SEASON, (s + 1) * PER_SEASON)])
    return xs, ys.astype(np.int32)


class CallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
        self.head = nn.Linear(64, PER_SEASON)

    def add_species(self, k):
        old_w, old_b = self.head.weight, self.head.bias
        fresh = nn.Linear(64, k)
        self.head = nn.Linear(64, old_w.shape[0] + k)
        self.head.weight = mx.concatenate([old_w, fresh.weight], axis=0)
        self.head.bias = mx.concatenate([old_b, fresh.bias], axis=0)

    def __call__(self, x):
        return self.head(self.trunk(x))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y).mean()


model = CallNet()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)
store_x = np.zeros((0, D), np.float32)
store_y = np.zeros((0,), np.int32)
tests = [season_data(s, 150) for s in range(SEASONS)]
acc_rows = []
t0 = time.time()

for s in range(SEASONS):
    if s > 0:
        model.add_species(PER_SEASON)
        mx.eval(model.parameters())
    n_seen = (s + 1) * PER_SEASON
    xs, ys = season_data(s, 500)
    sched = optim.join_schedules([optim.linear_schedule(0.0, 0.05, 30),
                                  optim.cosine_decay(0.05, STEPS - 30, 2e-3)], [30])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=5e-4)
    log.info("season %d: %d new species (%d known), %d new calls, rehearsal store %d calls / %.1f KiB",
             s + 1, PER_SEASON, n_seen, len(ys), len(store_y), store_x.nbytes / 1024)
    win = []
    for step in range(1, STEPS + 1):
        if len(store_y) > 0:
            a = rng.integers(0, len(ys), BS // 2)
            b = rng.integers(0, len(store_y), BS // 2)
            bx = np.concatenate([xs[a], store_x[b]])
            by = np.concatenate([ys[a], store_y[b]])
        else:
            a = rng.integers(0, len(ys), BS)
            bx, by = xs[a], ys[a]
        loss, g = vg(model, mx.array(bx), mx.array(by))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        win.append(loss.item())
        if step in (1, 10) or step % 55 == 0:
            log.info("  season %d step %3d  lr %.4f  xent %.4f  (chance %.4f)",
                     s + 1, step, opt.learning_rate.item(), np.mean(win), np.log(n_seen))
            win = []
    # add this season's species to the rehearsal store
    for c in range(s * PER_SEASON, (s + 1) * PER_SEASON):
        pick = rng.choice(np.flatnonzero(ys == c), KEEP, replace=False)
        store_x = np.concatenate([store_x, xs[pick]])
        store_y = np.concatenate([store_y, ys[pick]])
    row = []
    for t in range(s + 1):
        tx, ty = tests[t]
        row.append(float((mx.argmax(model(mx.array(tx)), axis=1) == mx.array(ty)).mean().item()))
    acc_rows.append(row)
    allx = np.concatenate([tests[t][0] for t in range(s + 1)])
    ally = np.concatenate([tests[t][1] for t in range(s + 1)])
    overall = (mx.argmax(model(mx.array(allx)), axis=1) == mx.array(ally)).mean().item()
    log.info("season %d done: per-season test acc %s | all %d species %.1f%% (chance %.1f%%) | %.1fs",
             s + 1, " ".join(f"{100 * r:5.1f}" for r in row), n_seen, 100 * overall, 100 / n_seen,
             time.time() - t0)

avg_inc = np.mean([np.mean(r) for r in acc_rows])
forget = np.mean([max(acc_rows[k][t] for k in range(t, SEASONS - 1)) - acc_rows[-1][t] for t in range(SEASONS - 1)])
log.info("average incremental accuracy %.1f%%, mean forgetting %.1f points, store %d calls / %.1f KiB, head %s",
         100 * avg_inc, 100 * forget, len(store_y), store_x.nbytes / 1024, tuple(model.head.weight.shape))
