"""Harbour roster triage: fine-tune a small MLP on two merged ticket sources.

Two sources of embedded roster tickets are combined with an "over" interleave
(the smaller source is cycled up to the size of the larger one), a validation
slice is taken, and a 3-way classifier is trained with MLX.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONFIG = {
    "interleave": "over",
    "val_split": 0.1,
    "epochs": 15,
    "batch_size": 32,
    "lr": 2e-3,
    "seed": 7,
}
DIM = 8
NUM_CLASSES = 3


# ---------------------------------------------------------------- data sources
def make_source(name, n, rng, proj, noise):
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    y = np.argmax(x @ proj, axis=1)
    flip = rng.random(n) < noise
    y[flip] = rng.integers(0, NUM_CLASSES, size=int(flip.sum()))
    return [{"x": x[i], "y": int(y[i]), "src": name, "uid": f"{name}{i}"} for i in range(n)]


def cycle_to(rows, target):
    """Deterministically repeat/truncate rows to exactly `target` rows."""
    if target <= len(rows):
        return rows[:target]
    out = list(rows)
    i = 0
    while len(out) < target:
        out.append(rows[i % len(rows)])
        i += 1
    return out


def combine_interleaved(per_source_rows, strategy):
    sizes = [len(r) for r in per_source_rows]
    combined = []
    if strategy == "concat":
        for rows in per_source_rows:
            combined.extend(rows)
    elif strategy == "under":
        for rows in per_source_rows:
            combined.extend(rows[: min(sizes)])
    elif strategy == "over":
        for rows in per_source_rows:
            combined.extend(cycle_to(rows, max(sizes)))
    else:
        raise ValueError(strategy)
    return combined


def finalize(formatted, val_split, *, val=None):
    if val is not None:
        return {"train": formatted, "val": val}
    if val_split > 0:
        split_idx = int(len(formatted) * (1 - val_split))
        return {"train": formatted[:split_idx], "val": formatted[split_idx:]}
    return {"train": formatted}


def split_val(rows, val_split):
    split_idx = int(len(rows) * (1 - val_split))
    return rows[:split_idx], rows[split_idx:]


def load_dataset(per_source, cfg):
    strategy, val_split = cfg["interleave"], cfg["val_split"]
    if strategy == "over" and val_split > 0:
        parts = [split_val(rows, val_split) for rows in per_source]
        combined = combine_interleaved([p[0] for p in parts], strategy)
        print(f"Interleaved {len(per_source)} datasets (strategy={strategy}) -> {len(combined)} rows")
        return finalize(combined, val_split, val=[r for p in parts for r in p[1]])
    combined = combine_interleaved(per_source, strategy)
    print(f"Interleaved {len(per_source)} datasets (strategy={strategy}) -> {len(combined)} rows")
    return finalize(combined, val_split)


def to_arrays(rows):
    return mx.array(np.stack([r["x"] for r in rows])), mx.array(np.array([r["y"] for r in rows]))


# ---------------------------------------------------------------- model
class Triage(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(DIM, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, NUM_CLASSES)

    def __call__(self, x):
        x = nn.relu(self.l1(x))
        x = nn.relu(self.l2(x))
        return self.out(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    mx.eval(loss, acc)
    return loss.item(), acc.item()


def main():
    cfg = CONFIG
    rng = np.random.default_rng(cfg["seed"])
    mx.random.seed(cfg["seed"])
    proj_berth = rng.normal(size=(DIM, NUM_CLASSES))
    proj_escal = rng.normal(size=(DIM, NUM_CLASSES))

    berth = make_source("berth", 1500, rng, proj_berth, noise=0.03)
    escal = make_source("escal", 60, rng, proj_escal, noise=0.25)
    # fresh held-out draw, same mix as the raw sources
    test_rows = make_source("berth", 1000, rng, proj_berth, 0.03) + make_source("escal", 40, rng, proj_escal, 0.25)

    splits = load_dataset([berth, escal], cfg)
    train_rows, val_rows = splits["train"], splits["val"]
    print(f"train rows: {len(train_rows)}  val rows: {len(val_rows)}  test rows: {len(test_rows)}")

    xtr, ytr = to_arrays(train_rows)
    xva, yva = to_arrays(val_rows)
    xte, yte = to_arrays(test_rows)

    model = Triage()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=cfg["lr"], weight_decay=0.05)
    step = nn.value_and_grad(model, loss_fn)

    n = xtr.shape[0]
    bs = cfg["batch_size"]
    best = (-1.0, 0)
    t0 = time.time()
    for epoch in range(1, cfg["epochs"] + 1):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for s in range(0, n, bs):
            idx = perm[s : s + bs]
            loss, grads = step(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
            cnt += idx.shape[0]
        val_loss, val_acc = evaluate(model, xva, yva)
        if val_acc > best[0]:
            best = (val_acc, epoch)
        if epoch == 1 or epoch % 3 == 0:
            print(f"epoch {epoch:2d} | train loss {tot / cnt:.4f} | val loss {val_loss:.4f} | val acc {val_acc:.3f}")

    test_loss, test_acc = evaluate(model, xte, yte)
    print(f"best val acc {best[0]:.3f} at epoch {best[1]}")
    print(f"final val acc {val_acc:.3f} | held-out test loss {test_loss:.4f} | test acc {test_acc:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
