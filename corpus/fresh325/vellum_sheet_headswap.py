"""Paper conservation lab: damage type of archival sheets.

Stage 1 learns three damage types on the old lab's records. The new lab adds
two types, so the 3-way head is swapped for a 5-way head through
Module.update_modules (old rows copied over, new rows start at zero), and the
network is then adapted by training only the bias vectors of the trunk plus
the whole new head. The adaptation lr warms up from exactly 0.
Output is a psql-like table.
"""

import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

OLD = ["foxing", "tide_line", "mould"]
NEW = OLD + ["iron_gall", "cockling"]
N_FEAT = 8


def make_sheets(n, classes, shift, rng):
    centres = np.array([
        [1.2, 0.2, -0.5, 0.8, 0.0, -0.3, 0.4, 0.1],
        [-0.6, 1.1, 0.3, -0.2, 0.7, 0.0, -0.8, 0.3],
        [0.1, -0.9, 1.0, 0.4, -0.6, 0.9, 0.2, -0.7],
        [-1.0, -0.3, -0.9, 1.1, 0.5, 0.4, 0.9, 0.6],
        [0.5, 0.8, 0.6, -1.0, -0.9, -0.8, -0.2, 1.0],
    ], dtype=np.float32)
    y = rng.integers(0, len(classes), n)
    x = centres[y] + rng.normal(0, 0.75, (n, N_FEAT)).astype(np.float32)
    x = x + shift
    x[:, 2] = np.tanh(x[:, 2]) + 0.3 * x[:, 0] * x[:, 1]
    return x.astype(np.float32), y.astype(np.int32)


class SheetNet(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.fc1 = nn.Linear(N_FEAT, 64)
        self.ln1 = nn.LayerNorm(64)
        self.fc2 = nn.Linear(64, 64)
        self.ln2 = nn.LayerNorm(64)
        self.head = nn.Linear(64, n_out)

    def __call__(self, x):
        h = nn.silu(self.ln1(self.fc1(x)))
        h = h + nn.silu(self.ln2(self.fc2(h)))
        return self.head(h)


def bits(logits, y):
    return float(nn.losses.cross_entropy(logits, y, reduction="mean")) / math.log(2)


def recall(logits, y, k):
    pred = np.array(mx.argmax(logits, axis=-1))
    yy = np.array(y)
    m = yy == k
    return 100.0 * float((pred[m] == k).mean()) if m.any() else float("nan")


def run_epochs(model, opt, sched, X, Y, epochs, bs, rng, rows, tag, Xv, Yv, ncls):
    loss_and_grad = nn.value_and_grad(
        model, lambda m, xb, yb: nn.losses.cross_entropy(m(xb), yb, reduction="mean"))
    n = X.shape[0]
    for ep in range(1, epochs + 1):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        lr_first = None
        for s in range(0, n - bs + 1, bs):
            idx = mx.array(perm[s:s + bs])
            if lr_first is None:
                lr_first = float(sched(opt.step)) if sched else float(opt.learning_rate)
            loss, grads = loss_and_grad(model, X[idx], Y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss) * bs
            cnt += bs
        lv = model(Xv)
        acc = 100.0 * float(mx.mean(mx.argmax(lv, -1) == Yv))
        rec = [recall(lv, Yv, k) for k in range(ncls)]
        rows.append((tag, ep, lr_first, tot / cnt / math.log(2), bits(lv, Yv), acc, rec))


def print_table(rows, ncls):
    names = NEW[:ncls]
    head = ["stage", "ep", "lr_first", "train_bits", "valid_bits", "acc_pct"] + [
        f"rec_{c}" for c in names]
    widths = [max(len(h), 9) for h in head]
    print(" " + " | ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("-" + "-+-".join("-" * w for w in widths) + "-")
    for tag, ep, lr, tb, vb, acc, rec in rows:
        cells = [tag, str(ep), f"{lr:.2e}", "" if tb is None else f"{tb:.4f}",
                 f"{vb:.4f}", f"{acc:.1f}"]
        cells += ["" if (i >= len(rec) or math.isnan(rec[i])) else f"{rec[i]:.1f}"
                  for i in range(ncls)]
        print(" " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)))
    print(f"({len(rows)} rows)")
    print()


def main():
    rng = np.random.default_rng(3251)
    mx.random.seed(3251)

    xa, ya = make_sheets(6000, OLD, 0.0, rng)
    xav, yav = make_sheets(1500, OLD, 0.0, rng)
    shift = np.array([0.25, -0.2, 0.0, 0.15, 0.1, 0.0, -0.1, 0.2], np.float32)
    xb, yb = make_sheets(1500, NEW, shift, rng)
    xbv, ybv = make_sheets(1500, NEW, shift, rng)
    mu, sd = xa.mean(0), xa.std(0)
    f = lambda a: mx.array((a - mu) / sd)
    Xa, Ya, Xav, Yav = f(xa), mx.array(ya), f(xav), mx.array(yav)
    Xb, Yb, Xbv, Ybv = f(xb), mx.array(yb), f(xbv), mx.array(ybv)

    model = SheetNet(len(OLD))
    mx.eval(model.parameters())
    rows = [("old", 0, 0.0, None, bits(model(Xav), Yav),
             100.0 * float(mx.mean(mx.argmax(model(Xav), -1) == Yav)),
             [recall(model(Xav), Yav, k) for k in range(3)])]
    opt = optim.Adam(learning_rate=2e-3)
    run_epochs(model, opt, None, Xa, Ya, 6, 64, rng, rows, "old", Xav, Yav, 3)
    print("# old lab, chance = %.3f bits" % math.log2(3))
    print_table(rows, 3)

    # head swap: 3 -> 5 outputs, old rows kept, new rows start at zero
    old_w = model.head.weight
    old_b = model.head.bias
    new_head = nn.Linear(64, len(NEW))
    w = mx.concatenate([old_w, mx.zeros((2, 64))], axis=0)
    b = mx.concatenate([old_b, mx.full((2,), -2.0)], axis=0)
    new_head.update({"weight": w, "bias": b})
    model.update_modules({"head": new_head})
    mx.eval(model.parameters())

    model.freeze()
    model.unfreeze(keys=["bias"])
    model.head.unfreeze()
    trunk_w = {k: mx.array(v) for k, v in tree_flatten(model.parameters())
               if not k.startswith("head") and not k.endswith("bias")}
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    leaves = [k for k, _ in tree_flatten(model.trainable_parameters())]
    print(f"# swapped head: {len(OLD)} -> {len(NEW)} outputs; trainable "
          f"{n_train} of {n_all} ({len(leaves)} leaves: {', '.join(leaves)})")
    print("# new lab, chance = %.3f bits" % math.log2(5))

    lv = model(Xbv)
    rows = [("new", 0, 0.0, None, bits(lv, Ybv),
             100.0 * float(mx.mean(mx.argmax(lv, -1) == Ybv)),
             [recall(lv, Ybv, k) for k in range(5)])]
    epochs = 20
    steps_per = 1500 // 50
    warm = 2 * steps_per
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, warm),
         optim.cosine_decay(0.05, epochs * steps_per - warm, 1e-3)], [warm])
    opt2 = optim.SGD(learning_rate=sched, momentum=0.9)
    run_epochs(model, opt2, sched, Xb, Yb, epochs, 50, rng, rows, "new", Xbv, Ybv, 5)
    print_table([r for r in rows if r[1] in (0, 1, 2, 3, 5, 8, 12, 16, 20)], 5)

    drift = max(float(mx.abs(dict(tree_flatten(model.parameters()))[k] - v).max())
                for k, v in trunk_w.items())
    print(f"# trunk weight matrices max change: {drift:.1e}")


if __name__ == "__main__":
    main()
