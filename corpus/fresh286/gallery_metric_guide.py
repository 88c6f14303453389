"""Museum audio-guide: which exhibit stops to suggest to a visitor.

Collaborative metric learning: visitors and exhibit stops live in one space,
a visit pulls the pair together, unvisited stops are pushed beyond a margin.
Every vector is projected back into the unit ball after each update.
The run is split in two sessions with a checkpoint written in between.
"""
import json
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(2861)

N_VIS, N_STOPS, N_ROOMS = 700, 120, 6
VISITS = 18

room_of = rng.integers(0, N_ROOMS, N_STOPS)
stop_lat = rng.normal(size=(N_STOPS, 4))
stop_pop = rng.normal(scale=0.8, size=N_STOPS)
vis_lat = rng.normal(size=(N_VIS, 4))
vis_room = rng.normal(scale=1.4, size=(N_VIS, N_ROOMS))

pairs, held = [], np.zeros(N_VIS, dtype=np.int64)
visited = np.zeros((N_VIS, N_STOPS), dtype=bool)
for v in range(N_VIS):
    util = vis_lat[v] @ stop_lat.T / 2.0 + vis_room[v, room_of] + stop_pop
    p = np.exp(1.5 * util)
    p /= p.sum()
    stops = rng.choice(N_STOPS, size=VISITS, replace=False, p=p)
    held[v] = stops[0]
    for s in stops[1:]:
        pairs.append((v, s))
        visited[v, s] = True
pairs = np.array(pairs, dtype=np.int64)
pop = np.bincount(pairs[:, 1], minlength=N_STOPS).astype(np.float64)


def recall10(score):
    score = np.where(visited, -np.inf, score)
    tgt = score[np.arange(N_VIS), held]
    rank = (score > tgt[:, None]).sum(1)
    return 100.0 * (rank < 10).mean()


POP_R10 = recall10(np.tile(pop, (N_VIS, 1)))
RAND_R10 = 100.0 * 10 / (N_STOPS - (VISITS - 1))


class MetricSpace(nn.Module):
    def __init__(self, n_users, n_items, dim, seed):
        super().__init__()
        key = mx.random.key(seed)
        k1, k2 = mx.random.split(key)
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        self.user.weight = mx.random.normal((n_users, dim), key=k1) / math.sqrt(dim)
        self.item.weight = mx.random.normal((n_items, dim), key=k2) / math.sqrt(dim)

    def sqdist(self, u, items):
        return mx.square(self.user(u)[:, None, :] - self.item(items)).sum(-1)

    def neg_sqdist_all(self):
        U, V = self.user.weight, self.item.weight
        return -(mx.square(U).sum(1, keepdims=True) - 2 * U @ V.T + mx.square(V).sum(1)[None, :])


MARGIN, U_NEG = 0.5, 12


def cml_loss(model, u, pos, negs, valid):
    d_pos = model.sqdist(u, pos[:, None])[:, 0]
    d_neg = model.sqdist(u, negs)
    d_neg = mx.where(valid, d_neg, 1e4)
    hinge = mx.maximum(0.0, MARGIN + d_pos[:, None] - d_neg)
    n_viol = mx.stop_gradient((hinge > 0).sum(1).astype(mx.float32))
    w = mx.log1p(N_STOPS * n_viol / U_NEG)
    hardest = hinge.max(axis=1)
    return (w * hardest).mean()


def project_unit_ball(model):
    for name in ("user", "item"):
        W = getattr(model, name).weight
        n = mx.sqrt(mx.square(W).sum(1, keepdims=True))
        getattr(model, name).weight = W / mx.maximum(n, 1.0)


def capped_share(model):
    n = np.sqrt((np.array(model.item.weight) ** 2).sum(1))
    return 100.0 * (n > 0.999).mean()


B = 192


def run_epochs(model, opt, first_epoch, last_epoch, session, state):
    step_fn = nn.value_and_grad(model, cml_loss)
    for epoch in range(first_epoch, last_epoch + 1):
        t = time.time()
        perm = rng.permutation(len(pairs))
        tot, nb = 0.0, 0
        for s in range(0, len(perm), B):
            idx = perm[s:s + B]
            u = pairs[idx, 0]
            negs = rng.integers(0, N_STOPS, size=(len(idx), U_NEG))
            valid = ~visited[u[:, None], negs]
            loss, g = step_fn(model, mx.array(u), mx.array(pairs[idx, 1]), mx.array(negs), mx.array(valid))
            opt.update(model, g)
            project_unit_ball(model)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss)
            nb += 1
        r10 = recall10(np.array(model.neg_sqdist_all()))
        state["last_r10"] = r10
        print("---")
        print(f"session: {session}")
        print(f"epoch: {epoch}")
        print(f"optimizer_step: {int(opt.state['step'])}")
        print(f"hinge_loss: {tot / nb:.4f}")
        print(f"recall_at_10_pct: {r10:.1f}")
        print(f"reference: {{popularity: {POP_R10:.1f}, random: {RAND_R10:.1f}}}")
        print(f"stops_on_unit_sphere_pct: {capped_share(model):.1f}")
        print(f"seconds: {time.time() - t:.2f}")


print("---")
print(f"data: {{visitors: {N_VIS}, stops: {N_STOPS}, visits: {len(pairs)}, held_out_per_visitor: 1}}")

ckpt = tempfile.mkdtemp(prefix="guide_ckpt_")
state = {}
model = MetricSpace(N_VIS, N_STOPS, 16, seed=5)
project_unit_ball(model)
opt = optim.Adam(learning_rate=0.01)
print(f"untrained_recall_at_10_pct: {recall10(np.array(model.neg_sqdist_all())):.1f}")
run_epochs(model, opt, 1, 6, "first", state)

model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"epoch": 6, "recall": state["last_r10"]}, f)
saved_r10 = state["last_r10"]
del model, opt
print("---")
print(f"checkpoint: {{dir: {os.path.basename(ckpt)}, epoch: 6}}")

model = MetricSpace(N_VIS, N_STOPS, 16, seed=99)
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = optim.Adam(learning_rate=0.01)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    meta = json.load(f)
resumed = recall10(np.array(model.neg_sqdist_all()))
print(f"resumed: {{epoch: {meta['epoch']}, recall_at_10_pct: {resumed:.1f}, matches_saved: {abs(resumed - saved_r10) < 1e-9}, "
      f"optimizer_step: {int(opt.state['step'])}}}")
run_epochs(model, opt, meta["epoch"] + 1, 12, "second", state)
shutil.rmtree(ckpt)
print("---")
print(f"done: {{final_recall_at_10_pct: {state['last_r10']:.1f}, popularity_pct: {POP_R10:.1f}}}")
