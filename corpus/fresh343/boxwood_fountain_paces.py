"""Hedge maze at a country house: learn how many paces each spot is from the
fountain in the middle, by fitted value iteration with a reverse curriculum.

The value net never sees the true distances.  Its target for a spot s is
1 + min over open neighbours n of V(n) (V of the fountain is 0), computed from
its own current predictions under stop_gradient.  Start spots are drawn by
random walks that begin AT the fountain; the allowed walk length grows stage
by stage (reverse curriculum), so the net first gets the spots next to the goal
right and the bootstrapped targets further out become meaningful later.

Reported beside the net: the BFS truth (only used for scoring) and a
'straight-line' Manhattan heuristic as the reference a gardener would guess.
"""
import time
from collections import deque

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CELLS = 7                    # 7 x 7 maze cells -> 15 x 15 grid
SIZE = 2 * CELLS + 1
WALKS = [4, 12, 40, 120, 300, 0]     # 0 = every open spot, uniformly
UPDATES = [250, 250, 300, 350, 350, 900]   # per stage
BATCH = 96
SCALE = 10.0                 # values are predicted in units of 10 paces

rng = np.random.default_rng(3431)
mx.random.seed(3431)


def carve_maze(gen):
    grid = np.zeros((SIZE, SIZE), dtype=bool)          # True = open path
    seen = np.zeros((CELLS, CELLS), dtype=bool)
    stack = [(0, 0)]
    seen[0, 0] = True
    grid[1, 1] = True
    while stack:
        r, c = stack[-1]
        nbrs = [(r + dr, c + dc) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
                if 0 <= r + dr < CELLS and 0 <= c + dc < CELLS and not seen[r + dr, c + dc]]
        if not nbrs:
            stack.pop()
            continue
        nr, nc = nbrs[gen.integers(len(nbrs))]
        grid[2 * r + 1 + (nr - r), 2 * c + 1 + (nc - c)] = True
        grid[2 * nr + 1, 2 * nc + 1] = True
        seen[nr, nc] = True
        stack.append((nr, nc))
    # a few extra gaps in the hedges so there are loops
    for _ in range(10):
        r, c = gen.integers(1, SIZE - 1, size=2)
        if (r + c) % 2 == 1:
            grid[r, c] = True
    return grid


grid = carve_maze(rng)
goal = (2 * (CELLS // 2) + 1, 2 * (CELLS // 2) + 1)
free = [(r, c) for r in range(SIZE) for c in range(SIZE) if grid[r, c]]
index = {p: i for i, p in enumerate(free)}
MOVES = ((1, 0), (-1, 0), (0, 1), (0, -1))
nbr = np.full((len(free), 4), -1, dtype=np.int64)
for i, (r, c) in enumerate(free):
    for j, (dr, dc) in enumerate(MOVES):
        q = (r + dr, c + dc)
        if q in index:
            nbr[i, j] = index[q]
GOAL = index[goal]

truth = np.full(len(free), -1, dtype=np.int64)          # BFS, scoring only
truth[GOAL] = 0
dq = deque([GOAL])
while dq:
    u = dq.popleft()
    for v in nbr[u]:
        if v >= 0 and truth[v] < 0:
            truth[v] = truth[u] + 1
            dq.append(v)
manhattan = np.array([abs(r - goal[0]) + abs(c - goal[1]) for r, c in free])

feat = np.zeros((len(free), 2 * SIZE), dtype=np.float32)
for i, (r, c) in enumerate(free):
    feat[i, r] = 1.0
    feat[i, SIZE + c] = 1.0
FEAT = mx.array(feat)
NBR = mx.array(np.where(nbr < 0, GOAL, nbr).astype(np.int32))
NBR_OPEN = mx.array(nbr >= 0)


class ValueNet(nn.Module):
    def __init__(self, hidden=160):
        super().__init__()
        self.l1 = nn.Linear(2 * SIZE, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        h = h + nn.silu(self.l3(h))
        return self.head(h).squeeze(-1)


def all_values(model):
    v = model(FEAT)
    return mx.where(mx.arange(len(free)) == GOAL, 0.0, v)


def td_loss(model, idx):
    v_all = mx.stop_gradient(all_values(model))
    nv = mx.where(NBR_OPEN[idx], v_all[NBR[idx]], 1e3)
    target = 1.0 / SCALE + mx.maximum(mx.min(nv, axis=1), 0.0)   # no spot is closer than the fountain
    target = mx.where(idx == GOAL, 0.0, target)
    pred = model(FEAT[idx])
    return nn.losses.huber_loss(pred, target, delta=0.5, reduction="mean")


def walk_starts(max_len, n, gen):
    if max_len == 0:
        return mx.array(gen.integers(0, len(free), size=n).astype(np.int32))
    lens = gen.integers(0, max_len + 1, size=n)
    s = np.full(n, GOAL, dtype=np.int64)
    for t in range(max_len):
        pick = nbr[s, gen.integers(0, 4, size=n)]
        move = (t < lens) & (pick >= 0)
        s = np.where(move, pick, s)
    return mx.array(s.astype(np.int32))


def score(model):
    v = np.array(all_values(model)) * SCALE
    err = np.abs(v - truth)
    bands = [(0, 6), (7, 14), (15, 21), (22, 999)]
    per = []
    for lo, hi in bands:
        m = (truth >= lo) & (truth <= hi)
        per.append(err[m].mean() if m.any() else float("nan"))
    # greedy walk downhill on the learned values from every spot
    ok = 0
    for s0 in range(len(free)):
        s, steps = s0, 0
        while s != GOAL and steps < 2 * truth.max():
            opts = nbr[s][nbr[s] >= 0]
            s = opts[np.argmin(v[opts] + np.where(opts == GOAL, -1e9, 0))]
            steps += 1
        ok += s == GOAL
    return err.mean(), per, 100.0 * ok / len(free)


model = ValueNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 50), optim.cosine_decay(3e-3, sum(UPDATES) - 50, 3e-4)],
    [50]), weight_decay=1e-4)
vg = nn.value_and_grad(model, td_loss)

print(f"maze {SIZE}x{SIZE}: {len(free)} open spots, fountain at {goal}, "
      f"farthest spot {truth.max()} paces")
heur_mae = np.abs(manhattan - truth).mean()
print(f"reference: manhattan guess MAE {heur_mae:.2f} paces; always-0 guess MAE {truth.mean():.2f}")
_, g0 = vg(model, walk_starts(WALKS[0], BATCH, rng))
leaves = tree_flatten(g0)
print(f"grad leaves {len(leaves)}, all-zero {sum(float(mx.abs(g).max().item()) == 0 for _, g in leaves)}")
mae, per, reach = score(model)
print(f"untrained: MAE {mae:.2f} paces | reaches fountain from {reach:.1f}% of spots")

t0 = time.perf_counter()
upd = 0
for stage, (walk, n_upd) in enumerate(zip(WALKS, UPDATES), 1):
    seen_far = 0
    run = []
    for it in range(1, n_upd + 1):
        idx = walk_starts(walk, BATCH, rng)
        loss, grads = vg(model, idx)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        upd += 1
        run.append(loss.item())
        seen_far = max(seen_far, int(truth[np.array(idx)].max()))
        if it % 125 == 0 or it == n_upd:
            mae, per, reach = score(model)
            bands = " ".join(f"{p:6.2f}" for p in per)
            print(f"[walk<={walk if walk else 'all':>3} | stage {stage} upd {it:3d} | total {upd:4d}] "
                  f"td {np.mean(run):.5f} lr {opt.learning_rate.item():.2e} | farthest drawn {seen_far:3d} | "
                  f"MAE {mae:6.2f} (bands 0-6/7-14/15-21/22+: {bands}) | "
                  f"manhattan {heur_mae:.2f} | reach {reach:5.1f}% | {time.perf_counter()-t0:.1f}s")
            run = []

mae, per, reach = score(model)
print(f"final: MAE {mae:.2f} paces vs manhattan {heur_mae:.2f}; greedy walk reaches the fountain "
      f"from {reach:.1f}% of {len(free)} spots; {upd} updates, {time.perf_counter()-t0:.1f}s")
