"""Change-ringing practice: find which of 8 bells is striking out of place from
a touch of strike-gap readings (rows of rounds). Parameters are materialised in
blocks of 8 updates, touches come in 4 lengths, and the run is checkpointed at
the half-way mark and resumed from disk."""
import os
import tempfile
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

BELLS = 8
ROW_CHOICES = (2, 3, 4, 5)          # touch lengths of 16, 24, 32, 40 strikes
rng = np.random.default_rng(5)


def touch(n, rows):
    odd = rng.integers(0, BELLS, size=n)
    late = rng.uniform(15, 40, size=n)                  # ms late, per ringer
    gaps = rng.normal(0, 9.0, size=(n, rows, BELLS))    # ordinary ragged striking
    gaps[np.arange(n), :, odd] += late[:, None]
    gaps = gaps.reshape(n, rows * BELLS) / 20.0
    place = np.tile(np.eye(BELLS, dtype=np.float32), (rows, 1))
    feats = np.concatenate([gaps[..., None].astype(np.float32),
                            np.broadcast_to(place, (n, rows * BELLS, BELLS))], -1)
    return feats, odd.astype(np.int32)


train = {r: touch(1500, r) for r in ROW_CHOICES}
heldout = {r: touch(400, r) for r in ROW_CHOICES}


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(1 + BELLS, 24)
        self.gru = nn.GRU(24, 48)
        self.head = nn.Linear(48, BELLS)

    def __call__(self, x):
        h = self.gru(nn.gelu(self.proj(x)))
        return self.head(h[:, -1])


def build(lr):
    mx.random.seed(17)
    m = Tower()
    o = optim.Adam(learning_rate=lr)
    return m, o


def make_step(m, o):
    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    state = [m.state, o.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = nn.value_and_grad(m, loss_fn)(m, x, y)
        o.update(m, g)
        return loss
    return step


def score(m, split, chunk=100):
    hits, total = 0, 0
    for r, (x, y) in split.items():
        for i in range(0, len(y), chunk):
            pred = mx.argmax(m(mx.array(x[i:i + chunk])), axis=-1)
            hits += mx.sum(pred == mx.array(y[i:i + chunk])).item()
            total += len(y[i:i + chunk])
    return 100.0 * hits / total


TOTAL, HALF, EVAL_EVERY, LOG_EVERY, BATCH = 640, 320, 8, 80, 32
model, opt = build(3e-3)
opt.init(model.trainable_parameters())
step = make_step(model, opt)
print(f"tower: {sum(v.size for _, v in tree_flatten(model.parameters()))} params; "
      f"touch lengths {[r * BELLS for r in ROW_CHOICES]}; chance {100 / BELLS:.1f}%")
print(f"before practice: heldout odd-bell found {score(model, heldout):.1f}%")

ckpt_dir = tempfile.mkdtemp()
pending = mx.array(0.0)
window = []
t0 = time.time()
i = 1
while i <= TOTAL:
    r = ROW_CHOICES[(i - 1) % len(ROW_CHOICES)]
    x, y = train[r]
    idx = rng.integers(0, len(y), size=BATCH)
    pending = pending + step(mx.array(x[idx]), mx.array(y[idx]))
    if i % EVAL_EVERY == 0:
        mx.eval(pending, model.state, opt.state)
        window.append(pending.item() / EVAL_EVERY)
        pending = mx.array(0.0)
    if i % LOG_EVERY == 0:
        print(f"step {i:4d}  mean xent (last {LOG_EVERY}) {np.mean(window[-LOG_EVERY // EVAL_EVERY:]):.4f}  "
              f"lr {opt.learning_rate.item():.1e}  cache {mx.get_cache_memory() / 2**20:.2f}MB  "
              f"{time.time() - t0:.1f}s")
    if i == HALF:
        model.save_weights(os.path.join(ckpt_dir, "tower.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                            dict(tree_flatten(opt.state)))
        del model, opt, step
        mx.clear_cache()
        model, opt = build(3e-3)
        model.load_weights(os.path.join(ckpt_dir, "tower.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        step = make_step(model, opt)
        print(f"-- checkpoint at step {i} written and reloaded from {os.path.basename(ckpt_dir)}; "
              f"optimizer step counter {opt.state['step'].item()}")
    i += 1

print(f"after practice: heldout odd-bell found {score(model, heldout):.1f}%  "
      f"(train {score(model, train):.1f}%)  total {time.time() - t0:.1f}s")
