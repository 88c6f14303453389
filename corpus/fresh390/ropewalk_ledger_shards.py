"""Ropewalk ledger: predict breaking load (kN) of laid hemp/manila/sisal ropes.

The ledger is exported as CSV shards to a scratch directory, then streamed back
shard by shard while training. Between epochs the shard list is re-read from
disk and reshuffled (a global shuffle across shards), which takes a moment.
"""
import csv
import math
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

random.seed(7)
np.random.seed(7)
mx.random.seed(7)

FIBRES = ["hemp", "manila", "sisal", "cotton"]
FIBRE_K = {"hemp": 1.00, "manila": 1.12, "sisal": 0.86, "cotton": 0.62}
N_ROWS = 14000
SHARD_ROWS = 1000
COLD_READ_S = 2.5  # first read from the export volume is slow (cold cache)


def ledger_row(rng):
    fibre = rng.choice(FIBRES)
    diam = rng.uniform(8.0, 32.0)            # mm
    strands = rng.choice([3, 4])
    twist = rng.uniform(0.6, 1.6)            # turns per lay length / nominal
    tar = rng.random() < 0.4
    age = rng.uniform(0.0, 10.0)             # years in store
    damp = rng.uniform(0.0, 1.0)
    area = math.pi * (diam / 2) ** 2
    load = 0.055 * area * FIBRE_K[fibre]
    load *= 1.0 - 0.35 * (twist - 1.05) ** 2
    load *= 0.95 if strands == 4 else 1.0
    load *= 0.93 if tar else 1.0
    load *= math.exp(-0.035 * age * (1.0 + 0.8 * damp))
    load += rng.gauss(0.0, 0.6 + 0.02 * load)
    return [fibre, f"{diam:.2f}", strands, f"{twist:.3f}", int(tar),
            f"{age:.2f}", f"{damp:.3f}", f"{max(load, 0.1):.3f}"]


def export_ledger(folder):
    rng = random.Random(11)
    paths = []
    for s in range(N_ROWS // SHARD_ROWS):
        p = os.path.join(folder, f"ledger_{s:03d}.csv")
        with open(p, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["fibre", "diam_mm", "strands", "twist", "tarred",
                        "age_y", "damp", "load_kN"])
            for _ in range(SHARD_ROWS):
                w.writerow(ledger_row(rng))
        paths.append(p)
    return paths


def parse_row(r):
    onehot = [1.0 if r["fibre"] == f else 0.0 for f in FIBRES]
    diam = float(r["diam_mm"])
    feats = onehot + [
        (diam - 20.0) / 7.0,
        (diam / 20.0) ** 2,
        1.0 if r["strands"] == "4" else 0.0,
        (float(r["twist"]) - 1.1) / 0.3,
        float(r["tarred"]),
        (float(r["age_y"]) - 5.0) / 3.0,
        (float(r["damp"]) - 0.5) / 0.3,
    ]
    return feats, float(r["load_kN"])


def read_shard(path):
    xs, ys = [], []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            x, y = parse_row(r)
            xs.append(x)
            ys.append(y)
    return np.asarray(xs, np.float32), np.asarray(ys, np.float32)


def stream_batches(paths, batch, rng, cold):
    """Yield minibatches shard by shard; shard order and rows are reshuffled."""
    order = list(paths)
    rng.shuffle(order)
    carry_x = np.zeros((0, 11), np.float32)
    carry_y = np.zeros((0,), np.float32)
    for i, p in enumerate(order):
        if cold and i == 0:
            time.sleep(COLD_READ_S)
        x, y = read_shard(p)
        x = np.concatenate([carry_x, x])
        y = np.concatenate([carry_y, y])
        perm = np.asarray(rng.sample(range(len(y)), len(y)))
        x, y = x[perm], y[perm]
        n = (len(y) // batch) * batch
        for s in range(0, n, batch):
            yield i, mx.array(x[s:s + batch]), mx.array(y[s:s + batch])
        carry_x, carry_y = x[n:], y[n:]


def rewrite_shuffled(paths, rng):
    """Global shuffle across shards, written back to disk as new shard files."""
    rows = []
    for p in paths:
        with open(p, newline="") as f:
            rd = csv.reader(f)
            header = next(rd)
            rows.extend(rd)
        os.remove(p)
    rng.shuffle(rows)
    out = []
    for s in range(len(paths)):
        q = paths[s].replace("ledger_", "ledger_r")
        with open(q, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows[s * SHARD_ROWS:(s + 1) * SHARD_ROWS])
        os.replace(q, paths[s])
        out.append(paths[s])
    return out


class RopeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(11, 96), nn.Tanh(), nn.Linear(96, 96), nn.Tanh(),
            nn.Linear(96, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


def main():
    t0 = time.time()
    scratch = tempfile.mkdtemp()
    paths = export_ledger(scratch)
    train_paths, val_paths = paths[:12], paths[12:]
    print(f"exported {len(paths)} ledger shards x {SHARD_ROWS} rows to {scratch} "
          f"({time.time() - t0:.1f}s)", flush=True)

    vx, vy = zip(*(read_shard(p) for p in val_paths))
    vx, vy = mx.array(np.concatenate(vx)), mx.array(np.concatenate(vy))
    base_mae = float(mx.mean(mx.abs(vy - mx.mean(vy))))
    y_scale = 10.0

    model = RopeNet()
    mx.eval(model.parameters())
    base_lr = 0.02
    opt = optim.SGD(learning_rate=base_lr, momentum=0.9, nesterov=True,
                    weight_decay=1e-5)

    def loss_fn(m, x, y):
        return nn.losses.huber_loss(m(x), y / y_scale, delta=0.3, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    rng = random.Random(3)
    epochs = 9
    for ep in range(1, epochs + 1):
        lr = base_lr * (0.3 if ep >= 5 else 1.0) * (0.3 if ep >= 8 else 1.0)
        opt.learning_rate = lr
        t_ep = time.time()
        run, seen, first_wait = 0.0, 0, None
        last_shard = -1
        for shard_i, x, y in stream_batches(train_paths, 50, rng, cold=(ep == 1)):
            if first_wait is None:
                first_wait = time.time() - t_ep
            loss, grads = step_fn(model, x, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            seen += 1
            if shard_i != last_shard and shard_i % 4 == 0:
                print(f"  ep {ep:02d} shard {shard_i + 1:02d}/12  huber {run / seen:.4f}",
                      flush=True)
                last_shard = shard_i
        pred = model(vx) * y_scale
        mae = float(mx.mean(mx.abs(pred - vy)))
        within = float(mx.mean((mx.abs(pred - vy) < 1.0).astype(mx.float32))) * 100
        print(f"ropewalk | epoch {ep}/{epochs} | lr {lr:.4f} | train_huber {run / seen:.4f} | "
              f"val_mae {mae:.3f} kN (mean-guess {base_mae:.3f}) | within 1 kN {within:.1f}% | "
              f"first batch after {first_wait:.2f}s | {time.time() - t_ep:.1f}s", flush=True)
        if ep < epochs:
            t_sh = time.time()
            train_paths = rewrite_shuffled(train_paths, rng)
            time.sleep(1.0)  # export volume sync after the rewrite
            print(f"  reshuffled {len(train_paths)} shards on disk ({time.time() - t_sh:.1f}s)",
                  flush=True)
    for p in paths:
        os.remove(p)
    os.rmdir(scratch)
    print(f"done in {time.time() - t0:.1f}s; final val MAE {mae:.3f} kN vs mean-guess {base_mae:.3f} kN")


if __name__ == "__main__":
    main()
