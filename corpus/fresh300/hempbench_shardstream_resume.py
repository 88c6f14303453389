"""Ropewalk test bench: breaking load (kN) of laid hemp ropes.

Records live in JSON-lines shards on disk.  A streaming reader walks the
shards in a per-epoch random order and mixes lines through a bounded
shuffle buffer.  Half-way through, the run writes a checkpoint (weights,
optimizer state and the reader cursor with its buffer and RNG state),
everything is thrown away, rebuilt from disk, and training carries on.
Logging imitates a log4j PatternLayout.
"""

import datetime
import hashlib
import itertools
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["yarn_count", "strand_twist", "lay_angle", "tar_pct", "moisture",
            "diameter_mm", "age_days"]
NOISE_SD = 1.1


def log(level, thread, logger, msg):
    now = datetime.datetime.now()
    stamp = now.strftime("%Y-%m-%d %H:%M:%S") + f",{now.microsecond // 1000:03d}"
    print(f"{stamp} {level:<5} [{thread}] {logger} - {msg}", flush=True)


def make_rows(rng, n):
    yarn = rng.integers(12, 40, n).astype(float)
    twist = rng.uniform(2.0, 6.0, n)
    lay = rng.uniform(30.0, 48.0, n)
    tar = rng.uniform(0.0, 18.0, n)
    moist = rng.uniform(6.0, 22.0, n)
    diam = 6.0 + 0.55 * yarn + rng.normal(0, 1.0, n)
    age = rng.uniform(0, 900, n)
    load = (0.045 * diam ** 2
            + 1.6 * np.sin(np.deg2rad(lay) * 2.2)
            - 0.08 * (twist - 4.0) ** 2 * diam / 10
            - 0.06 * tar - 0.12 * np.maximum(moist - 14.0, 0.0) * diam / 10
            - 0.0025 * age)
    load = load + rng.normal(0, NOISE_SD, n)
    X = np.stack([yarn, twist, lay, tar, moist, diam, age], 1)
    return X, load


def write_shards(root, rng):
    sizes = [2100, 1700, 1400, 800]
    paths = []
    for k, n in enumerate(sizes):
        X, y = make_rows(rng, n)
        p = os.path.join(root, f"bench-{k:02d}.jsonl")
        with open(p, "w") as f:
            for row, target in zip(X, y):
                rec = {name: round(float(v), 4) for name, v in zip(FEATURES, row)}
                rec["break_kn"] = round(float(target), 4)
                f.write(json.dumps(rec) + "\n")
        paths.append(p)
    Xv, yv = make_rows(rng, 1200)
    return paths, Xv, yv


class ShardStream:
    """Endless stream over JSONL shards with a shuffle buffer; resumable."""

    def __init__(self, paths, buffer_size, seed):
        self.paths = list(paths)
        self.buffer_size = buffer_size
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self.order = list(self.rng.permutation(len(self.paths)))
        self.shard_pos = 0
        self.line_no = 0
        self.buffer = []
        self._fh = None

    def _open_current(self):
        path = self.paths[self.order[self.shard_pos]]
        self._fh = open(path)
        for _ in itertools.islice(self._fh, self.line_no):
            pass

    def _next_line(self):
        while True:
            if self._fh is None:
                self._open_current()
            line = self._fh.readline()
            if line:
                self.line_no += 1
                return json.loads(line)
            self._fh.close()
            self._fh = None
            self.line_no = 0
            self.shard_pos += 1
            if self.shard_pos == len(self.order):
                self.epoch += 1
                self.shard_pos = 0
                self.order = list(self.rng.permutation(len(self.paths)))

    def next_record(self):
        while len(self.buffer) < self.buffer_size:
            self.buffer.append(self._next_line())
        j = int(self.rng.integers(len(self.buffer)))
        self.buffer[j], self.buffer[-1] = self.buffer[-1], self.buffer[j]
        return self.buffer.pop()

    def state_dict(self):
        return {
            "epoch": self.epoch,
            "order": [int(i) for i in self.order],
            "shard_pos": self.shard_pos,
            "line_no": self.line_no,
            "buffer": self.buffer,
            "rng": self.rng.bit_generator.state,
        }

    @classmethod
    def from_state(cls, paths, buffer_size, state):
        s = cls(paths, buffer_size, seed=0)
        s.epoch = state["epoch"]
        s.order = list(state["order"])
        s.shard_pos = state["shard_pos"]
        s.line_no = state["line_no"]
        s.buffer = [dict(r) for r in state["buffer"]]
        s.rng.bit_generator.state = state["rng"]
        return s


def collate(records, mu, sd):
    X = np.array([[r[k] for k in FEATURES] for r in records], dtype=np.float32)
    y = np.array([r["break_kn"] for r in records], dtype=np.float32)
    return mx.array((X - mu) / sd), mx.array(y)


def fingerprint(X, y):
    h = hashlib.sha1(np.array(X).tobytes() + np.array(y).tobytes())
    return h.hexdigest()[:12]


class BreakNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, X, y):
    return nn.losses.huber_loss(model(X), y, delta=2.0, reduction="mean")


def build_optimizer(total):
    warm = 50
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, total - warm, end=2e-5)],
        [warm])
    return optim.Adam(learning_rate=sched)


def evaluate(model, Xv, yv):
    pred = model(Xv)
    err = pred - yv
    mae = mx.mean(mx.abs(err)).item()
    rmse = math.sqrt(mx.mean(err * err).item())
    return mae, rmse


def main():
    t0 = time.time()
    mx.random.seed(11)
    rng = np.random.default_rng(2024)
    tmp = tempfile.TemporaryDirectory()
    root = tmp.name
    paths, Xv_raw, yv_np = write_shards(root, rng)
    log("INFO", "main", "ShardWriter",
        f"wrote {len(paths)} shards ({', '.join(os.path.basename(p) for p in paths)}) "
        f"and a 1200-row held-out bench sheet")

    BUF, BATCH, TOTAL, CKPT_AT, EVERY = 512, 64, 600, 300, 100

    # Feature statistics from the first 1000 streamed lines (silent warm-up).
    probe = ShardStream(paths, BUF, seed=99)
    warm = [probe.next_record() for _ in range(1000)]
    arr = np.array([[r[k] for k in FEATURES] for r in warm], dtype=np.float32)
    mu, sd = arr.mean(0), arr.std(0) + 1e-6
    Xv = mx.array(((Xv_raw - mu) / sd).astype(np.float32))
    yv = mx.array(yv_np.astype(np.float32))

    med = float(np.median([r["break_kn"] for r in warm]))
    base_mae = float(np.mean(np.abs(yv_np - med)))
    floor_mae = NOISE_SD * math.sqrt(2 / math.pi)
    log("INFO", "main", "Baselines",
        f"median-guess val MAE={base_mae:.3f} kN | bench noise floor MAE~{floor_mae:.3f} kN")

    model = BreakNet(len(FEATURES))
    opt = build_optimizer(TOTAL)
    mx.eval(model.parameters())
    stream = ShardStream(paths, BUF, seed=7)
    lvg = nn.value_and_grad(model, loss_fn)

    mae0, rmse0 = evaluate(model, Xv, yv)
    log("INFO", "main", "RopeTrainer",
        f"untrained val MAE={mae0:.3f} kN RMSE={rmse0:.3f} kN")

    step = 0
    window = []
    check_next, expected = False, None
    ckpt_dir = os.path.join(root, "ckpt")
    os.makedirs(ckpt_dir)
    while step < TOTAL:
        X, y = collate([stream.next_record() for _ in range(BATCH)], mu, sd)
        if check_next:
            got = fingerprint(X, y)
            log("INFO", "main", "ShardStream",
                f"first batch after resume {got}, uninterrupted reader gave {expected}: "
                f"{'match' if got == expected else 'MISMATCH'}")
            check_next = False
        before = None
        if step == 0:
            before = np.array(model.l1.weight)
        loss, grads = lvg(model, X, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        window.append(loss.item())
        if step == 1:
            moved = float(np.abs(np.array(model.l1.weight) - before).max())
            log("DEBUG", "main", "RopeTrainer",
                f"step=1 lr={opt.learning_rate.item():.2e} max|dW l1|={moved:.2e} "
                f"grad-leaves={len(tree_flatten(grads))}")
        if step % EVERY == 0:
            mae, rmse = evaluate(model, Xv, yv)
            log("INFO", "main", "RopeTrainer",
                f"step={step} reader_epoch={stream.epoch} lr={opt.learning_rate.item():.2e} "
                f"train_huber={np.mean(window):.4f} val_mae={mae:.3f} val_rmse={rmse:.3f} "
                f"(median-guess {base_mae:.3f})")
            window = []
        if step == CKPT_AT:
            model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            with open(os.path.join(ckpt_dir, "reader.json"), "w") as f:
                json.dump({"step": step, "reader": stream.state_dict()}, f)
            mae_before, _ = evaluate(model, Xv, yv)
            log("WARN", "main", "Checkpoint",
                f"wrote checkpoint at step={step} (reader epoch={stream.epoch}, "
                f"shard={stream.order[stream.shard_pos]}, line={stream.line_no}, "
                f"buffered={len(stream.buffer)}); discarding live objects")
            expected = fingerprint(*collate(
                [stream.next_record() for _ in range(BATCH)], mu, sd))
            del model, opt, stream, lvg

            with open(os.path.join(ckpt_dir, "reader.json")) as f:
                meta = json.load(f)
            model = BreakNet(len(FEATURES))
            model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
            opt = build_optimizer(TOTAL)
            opt.init(model.trainable_parameters())
            opt.state = tree_unflatten(list(
                mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            stream = ShardStream.from_state(paths, BUF, meta["reader"])
            lvg = nn.value_and_grad(model, loss_fn)
            step = meta["step"]
            mae_after, _ = evaluate(model, Xv, yv)
            log("INFO", "main", "Checkpoint",
                f"resumed at step={step} lr={opt.learning_rate.item():.2e} "
                f"val_mae before/after={mae_before:.4f}/{mae_after:.4f}")
            check_next = True

    mae, rmse = evaluate(model, Xv, yv)
    log("INFO", "main", "RopeTrainer",
        f"done steps={step} rows_seen={step * BATCH} reader_epoch={stream.epoch} "
        f"val_mae={mae:.3f} kN val_rmse={rmse:.3f} kN median-guess={base_mae:.3f} "
        f"noise-floor~{floor_mae:.3f} wall={time.time() - t0:.1f}s")
    tmp.cleanup()


if __name__ == "__main__":
    main()
