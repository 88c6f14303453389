"""Which mould blew this bottle?  Few-shot mould matching for a glassworks dig.

Each mould leaves its own marks: seam offsets, shoulder radius, base kick depth,
lip taper and so on.  We only have a handful of catalogued shards per mould, so a
relation network (Sung et al. 2018) is trained on episodes drawn from the
catalogued moulds and checked on moulds it has never seen.

Stage A: 5-way 5-shot episodes.  Checkpoint (weights + Adam state) to disk.
Stage B: fresh objects reload the checkpoint and continue on 5-way 1-shot.
Output is gnuplot-ready: whitespace columns, '#' comments, two blank lines
between stages so each stage is its own data index.
"""

import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_FEAT = 14
N_MOULDS_TRAIN = 48
N_MOULDS_HELD = 16
SHARDS_PER_MOULD = 30
WAY = 5
QUERY = 6
EPISODES = 600
WARMUP = 40
PEAK_LR = 3e-3
REPORT_EVERY = 100
EVAL_EPISODES = 200


def make_catalogue(seed):
    rng = np.random.default_rng(seed)
    latent_dim = 6
    mix1 = rng.normal(0, 1.0, (latent_dim, 24))
    mix2 = rng.normal(0, 1.0 / math.sqrt(24), (24, N_FEAT))
    n_moulds = N_MOULDS_TRAIN + N_MOULDS_HELD
    centres = rng.normal(0, 1.0, (n_moulds, latent_dim))
    xs = np.zeros((n_moulds, SHARDS_PER_MOULD, N_FEAT), dtype=np.float32)
    for m in range(n_moulds):
        z = centres[m] + 0.55 * rng.normal(size=(SHARDS_PER_MOULD, latent_dim))
        wear = rng.uniform(0.85, 1.15, size=(SHARDS_PER_MOULD, 1))
        feat = np.tanh(z @ mix1) @ mix2 * wear
        feat += 0.08 * rng.normal(size=feat.shape)
        xs[m] = feat
    flat = xs[:N_MOULDS_TRAIN].reshape(-1, N_FEAT)
    mu, sd = flat.mean(0), flat.std(0) + 1e-6
    xs = (xs - mu) / sd
    return xs[:N_MOULDS_TRAIN], xs[N_MOULDS_TRAIN:]


class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(N_FEAT, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32)
        )

    def __call__(self, x):
        return self.net(x)


class Relation(nn.Module):
    """Scores a (class summary, query, |difference|) triple in [0, 1]."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(96, 48)
        self.fc2 = nn.Linear(48, 1)

    def __call__(self, pair):
        return mx.sigmoid(self.fc2(nn.relu(self.fc1(pair)))).squeeze(-1)


class RelationNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = Embed()
        self.relation = Relation()

    def __call__(self, support, query):
        # support: (way, shot, F)  query: (nq, F)  -> scores (nq, way)
        way, shot, _ = support.shape
        s = self.embed(support.reshape(way * shot, -1)).reshape(way, shot, -1)
        summary = mx.mean(s, axis=1)  # class summary = mean over shots
        q = self.embed(query)
        nq = q.shape[0]
        a = mx.broadcast_to(summary[None, :, :], (nq, way, summary.shape[-1]))
        b = mx.broadcast_to(q[:, None, :], (nq, way, q.shape[-1]))
        return self.relation(mx.concatenate([a, b, mx.abs(a - b)], axis=-1))


def sample_episode(bank, rng, shot):
    classes = rng.choice(bank.shape[0], size=WAY, replace=False)
    sup, qry, lab = [], [], []
    for i, c in enumerate(classes):
        idx = rng.choice(bank.shape[1], size=shot + QUERY, replace=False)
        sup.append(bank[c, idx[:shot]])
        qry.append(bank[c, idx[shot:]])
        lab += [i] * QUERY
    return mx.array(np.stack(sup)), mx.array(np.concatenate(qry)), mx.array(np.array(lab))


def loss_fn(model, support, query, labels):
    scores = model(support, query)
    target = (mx.arange(WAY)[None, :] == labels[:, None]).astype(mx.float32)
    mse = mx.mean((scores - target) ** 2)
    acc = mx.mean(mx.argmax(scores, axis=1) == labels)
    return mse, acc


def held_out_accuracy(model, bank, shot, seed):
    rng = np.random.default_rng(seed)
    hits = []
    for _ in range(EVAL_EPISODES):
        s, q, y = sample_episode(bank, rng, shot)
        hits.append(mx.mean(mx.argmax(model(s, q), axis=1) == y).item())
    h = np.array(hits)
    return 100.0 * h.mean(), 100.0 * 1.96 * h.std() / math.sqrt(len(h))


def nearest_mean_baseline(bank, shot, seed):
    """Raw features, no learning: nearest class mean in Euclidean distance."""
    rng = np.random.default_rng(seed)
    hits = []
    for _ in range(EVAL_EPISODES):
        s, q, y = sample_episode(bank, rng, shot)
        means = np.array(s).mean(1)
        d = ((np.array(q)[:, None, :] - means[None]) ** 2).sum(-1)
        hits.append((d.argmin(1) == np.array(y)).mean())
    return 100.0 * float(np.mean(hits))


def make_schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    decay = optim.cosine_decay(PEAK_LR, EPISODES - WARMUP, 1e-4)
    return optim.join_schedules([warm, decay], [WARMUP])


def run_stage(tag, model, opt, bank_train, bank_held, shot, seed):
    rng = np.random.default_rng(seed)
    step = nn.value_and_grad(model, loss_fn)
    print(f"# stage {tag}: {WAY}-way {shot}-shot, {QUERY} queries/class, {EPISODES} episodes")
    base = nearest_mean_baseline(bank_held, shot, seed + 7)
    print(f"# stage {tag}: chance 20.0 %  raw-feature nearest-mean on held-out moulds {base:.1f} %")
    acc0, ci0 = held_out_accuracy(model, bank_held, shot, seed + 11)
    print(f"# stage {tag}: held-out before training {acc0:.1f} +- {ci0:.1f} %")
    print("#  ep        lr       mse_win   mse_min   mse_max  trainacc  heldacc   ci95    secs")
    win_l, win_a = [], []
    t0 = time.perf_counter()
    for ep in range(1, EPISODES + 1):
        s, q, y = sample_episode(bank_train, rng, shot)
        (l, a), g = step(model, s, q, y)
        if ep == 1:
            flat = tree_flatten(g)
            zero = [k for k, v in flat if float(mx.max(mx.abs(v)).item()) == 0.0]
            print(f"# stage {tag}: first-episode grad leaves {len(flat)}, all-zero {len(zero)}"
                  f" (lr at this step {float(opt.learning_rate.item()):.1e})")
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l, a)
        win_l.append(l.item())
        win_a.append(a.item())
        if ep % REPORT_EVERY == 0:
            acc, ci = held_out_accuracy(model, bank_held, shot, seed + 11)
            print(f"{ep:5d}  {float(opt.learning_rate.item()):9.2e}  {np.mean(win_l):9.4f} "
                  f"{np.min(win_l):9.4f} {np.max(win_l):9.4f}  {100*np.mean(win_a):7.1f}  "
                  f"{acc:7.1f}  {ci:5.1f}  {time.perf_counter()-t0:6.1f}")
            win_l, win_a = [], []
    return acc


def main():
    mx.random.seed(3)
    bank_train, bank_held = make_catalogue(seed=2024)
    print(f"# catalogue: {N_MOULDS_TRAIN} training moulds, {N_MOULDS_HELD} held-out moulds,"
          f" {SHARDS_PER_MOULD} shards each, {N_FEAT} measurements")

    model = RelationNet()
    opt = optim.Adam(learning_rate=make_schedule())
    mx.eval(model.parameters())
    n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"# relation network parameters: {n_par}")

    acc_a = run_stage("A", model, opt, bank_train, bank_held, shot=5, seed=10)

    ckpt = tempfile.mkdtemp()
    wpath = os.path.join(ckpt, "weights.safetensors")
    spath = os.path.join(ckpt, "adam.safetensors")
    model.save_weights(wpath)
    state = {k: v for k, v in tree_flatten(opt.state) if isinstance(v, mx.array)}
    mx.save_safetensors(spath, state)
    print(f"# checkpoint written: {len(state)} optimizer arrays, weights {os.path.getsize(wpath)} bytes")
    print()
    print()

    # fresh process-like restart: new objects, reload, continue on the harder task
    mx.random.seed(99)
    model2 = RelationNet()
    model2.load_weights(wpath)
    opt2 = optim.Adam(learning_rate=make_schedule())
    opt2.init(model2.trainable_parameters())
    loaded = mx.load(spath)
    restored = tree_unflatten(list(loaded.items()))
    restored["step"] = mx.array(0, dtype=mx.uint64)
    restored["learning_rate"] = mx.array(0.0)
    opt2.state = restored
    mx.eval(model2.parameters(), opt2.state)
    same = all(
        bool(mx.array_equal(a, b).item())
        for (_, a), (_, b) in zip(tree_flatten(model.parameters()), tree_flatten(model2.parameters()))
    )
    print(f"# resumed from checkpoint, weights identical: {same}; schedule restarted (warm-up from 0)")

    acc_b = run_stage("B", model2, opt2, bank_train, bank_held, shot=1, seed=20)
    print(f"# done: held-out 5-way 5-shot {acc_a:.1f} %, 5-way 1-shot {acc_b:.1f} % (chance 20.0 %)")


if __name__ == "__main__":
    main()
