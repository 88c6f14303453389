"""Bat-detector call stream: 4-way species tagging from an endless feed of
echolocation call measurements, drawn through a shuffle buffer.

The feed never ends, so training is counted in steps, not epochs.  Halfway
through, the detector is moved from the woodland edge to a riverside site
(microphone response shifts the frequency readings), and the run is stopped
and resumed from a checkpoint, as a field laptop would be overnight.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SPECIES = ["pipistrelle", "noctule", "daubenton", "long-eared"]
PRIORS = np.array([0.45, 0.30, 0.15, 0.10])
# peak kHz, start kHz, end kHz, duration ms, interval ms, harmonic ratio
CENTRES = np.array([
    [46.0, 75.0, 43.0, 5.5, 90.0, 0.20],
    [20.0, 28.0, 18.0, 18.0, 320.0, 0.10],
    [45.0, 85.0, 30.0, 3.5, 70.0, 0.35],
    [48.0, 80.0, 27.0, 2.5, 60.0, 0.60],
])
SPREAD = np.array([5.0, 11.0, 5.5, 1.8, 45.0, 0.15])
N_FEAT = 10


class CallFeed:
    """Endless iterator of single call records; its RNG state can be saved."""

    def __init__(self, seed, site="woodland"):
        self.rng = np.random.default_rng(seed)
        self.site = site
        self.count = 0

    def __iter__(self):
        return self

    def __next__(self):
        r = self.rng
        y = int(r.choice(4, p=PRIORS))
        base = CENTRES[y] + SPREAD * r.standard_normal(6)
        if self.site == "riverside":
            base[:3] += 14.0           # hotter microphone, readings sit higher
        bandwidth = base[1] - base[2]
        slope = bandwidth / max(base[3], 0.5)
        snr = r.uniform(6, 30)
        temp = r.normal(11.0, 4.0)
        x = np.concatenate([base, [bandwidth, slope, snr, temp]]).astype(np.float32)
        self.count += 1
        return x, y

    def state(self):
        return {"rng": self.rng.bit_generator.state, "site": self.site, "count": self.count}

    def load(self, st):
        self.rng.bit_generator.state = st["rng"]
        self.site = st["site"]
        self.count = st["count"]


class ShuffleBuffer:
    """Fill a buffer from the feed, hand out random batches, refill as it goes."""

    def __init__(self, feed, size, seed):
        self.feed = feed
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.xs, self.ys = [], []

    def fill(self):
        while len(self.xs) < self.size:
            x, y = next(self.feed)
            self.xs.append(x)
            self.ys.append(y)

    def batch(self, n):
        self.fill()
        idx = self.rng.choice(len(self.xs), size=n, replace=False)
        bx = np.stack([self.xs[i] for i in idx])
        by = np.array([self.ys[i] for i in idx], dtype=np.int32)
        for i in sorted(idx, reverse=True):
            self.xs[i] = self.xs[-1]
            self.ys[i] = self.ys[-1]
            self.xs.pop()
            self.ys.pop()
        return bx, by

    def state(self):
        return {"rng": self.rng.bit_generator.state,
                "xs": np.stack(self.xs).tolist() if self.xs else [],
                "ys": list(map(int, self.ys))}

    def load(self, st):
        self.rng.bit_generator.state = st["rng"]
        self.xs = [np.array(v, dtype=np.float32) for v in st["xs"]]
        self.ys = list(st["ys"])


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 4)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def calibrate(feed, n):
    rows = np.stack([next(feed)[0] for _ in range(n)])
    return rows.mean(0), rows.std(0) + 1e-6


def held_out(site, seed, n=1500):
    f = CallFeed(seed, site)
    xs, ys = zip(*[next(f) for _ in range(n)])
    return np.stack(xs), np.array(ys, dtype=np.int32)


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 60), optim.cosine_decay(2e-3, 940, 1e-4)], [60]
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=1) == y).item())


def main():
    mx.random.seed(3)
    t0 = time.time()
    feed = CallFeed(seed=11)
    mu, sd = calibrate(feed, 512)          # consumes 512 records, prints nothing
    norm = lambda a: mx.array((a - mu) / sd)
    buf = ShuffleBuffer(feed, size=256, seed=12)

    val_wood = held_out("woodland", 91)
    val_river = held_out("riverside", 92)
    vw = (norm(val_wood[0]), mx.array(val_wood[1]))
    vr = (norm(val_river[0]), mx.array(val_river[1]))
    majority = float(np.mean(val_wood[1] == 0))

    model = Tagger()
    opt = make_opt()
    mx.eval(model.parameters())
    step_fn = nn.value_and_grad(model, loss_fn)

    total_steps, move_at, stop_at, batch = 1000, 500, 400, 32
    ckpt_dir = tempfile.mkdtemp()
    win_loss, win_acc = [], []
    print(f"calibrated on {feed.count} calls; majority-class accuracy {majority:.3f}")
    step = 0
    resumed = False
    while step < total_steps:
        if step == move_at and feed.site != "riverside":
            feed.site = "riverside"
            buf.xs, buf.ys = [], []             # old-site calls leave the buffer
            print(f"step {step}: detector moved to riverside")
        bx, by = buf.batch(batch)
        x, y = norm(bx), mx.array(by)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        win_loss.append(loss.item())
        win_acc.append(accuracy(model, x, y))
        step += 1

        if step % 50 == 0:
            lr = opt.learning_rate.item()
            print(
                f"step {step:4d} lr {lr:.2e} loss {np.mean(win_loss):.4f} "
                f"batch_acc {np.mean(win_acc):.3f} | woodland {accuracy(model, *vw):.3f} "
                f"riverside {accuracy(model, *vr):.3f} (majority {majority:.3f}) calls_seen {feed.count}"
            )
            win_loss, win_acc = [], []

        if step == stop_at and not resumed:
            model.save_weights(os.path.join(ckpt_dir, "tagger.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            with open(os.path.join(ckpt_dir, "feed.json"), "w") as fh:
                json.dump({"feed": feed.state(), "buffer": buf.state(), "step": step}, fh)
            ref = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
            print(f"step {step}: checkpoint written, stopping for the night")

            # next morning: fresh objects, restore everything
            model = Tagger()
            model.load_weights(os.path.join(ckpt_dir, "tagger.safetensors"))
            opt = make_opt()
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            step_fn = nn.value_and_grad(model, loss_fn)
            with open(os.path.join(ckpt_dir, "feed.json")) as fh:
                st = json.load(fh)
            feed = CallFeed(seed=0)
            feed.load(st["feed"])
            buf = ShuffleBuffer(feed, size=256, seed=0)
            buf.load(st["buffer"])
            step = st["step"]
            same = all(np.array_equal(ref[k], np.array(v)) for k, v in tree_flatten(model.parameters()))
            print(f"step {step}: resumed (weights identical: {same}, lr {opt.learning_rate.item():.2e}, "
                  f"calls_seen {feed.count}, buffer {len(buf.xs)})")
            resumed = True

    wood, river = accuracy(model, *vw), accuracy(model, *vr)
    print(f"final woodland acc {wood:.3f} riverside acc {river:.3f} majority {majority:.3f} "
          f"calls_seen {feed.count} time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
