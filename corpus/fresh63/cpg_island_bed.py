"""CpG-island caller: 1-D conv net over one-hot DNA windows, per-window BCE.
Progress is written as UCSC BED track lines so the log can be loaded into a browser."""
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
L = 120


def make(n):
    ys = rng.integers(0, 2, n)
    seqs = np.empty((n, L), np.int64)
    for i, y in enumerate(ys):
        if y:   # island: GC-rich with CG dinucleotides over-represented in a random stretch
            p = np.array([0.2, 0.3, 0.3, 0.2])
            s = rng.choice(4, L, p=p)
            a = rng.integers(0, L - 60); b = a + rng.integers(40, 60)
            for j in range(a, b - 1, 2):
                if rng.random() < 0.35:
                    s[j], s[j + 1] = 1, 2          # C then G
        else:   # background: AT-rich, CpG depleted, sometimes GC-rich without CpG
            gc = rng.random() < 0.4
            p = np.array([0.2, 0.3, 0.3, 0.2]) if gc else np.array([0.3, 0.2, 0.2, 0.3])
            s = rng.choice(4, L, p=p)
            for j in range(L - 1):
                if s[j] == 1 and s[j + 1] == 2 and rng.random() < 0.75:
                    s[j + 1] = 0
        seqs[i] = s
    return np.eye(4, dtype=np.float32)[seqs], ys.astype(np.float32)


Xtr, ytr = make(2000)
Xva, yva = make(400)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


class IslandNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 16, kernel_size=5, padding=2)
        self.head = nn.Linear(32, 1)

    def __call__(self, x):                  # x: (N, L, 4)  MLX conv is channels-last
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        feat = mx.concatenate([h.max(axis=1), h.mean(axis=1)], axis=-1)
        return self.head(feat).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


model = IslandNet()
steps_per_epoch = 2000 // 50
sched = optim.cosine_decay(0.05, 8 * steps_per_epoch, 0.002)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
lg = nn.value_and_grad(model, loss_fn)

_, g0 = lg(model, Xtr[:50], ytr[:50])
flat = tree_flatten(g0)
zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
print(f"track name=cpg_train description=\"gradcheck leaves={len(flat)} zero={len(zero)}\"")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = lg(model, x, y)
    opt.update(model, g)
    return loss


def evaluate():
    logits = mx.concatenate([model(Xva[i:i + 200]) for i in range(0, 400, 200)])
    l = nn.losses.binary_cross_entropy(logits, yva, with_logits=True).item()
    pred = (logits > 0).astype(mx.float32)
    acc = (pred == yva).mean().item()
    tp = (pred * yva).sum().item(); fp = (pred * (1 - yva)).sum().item(); fn = ((1 - pred) * yva).sum().item()
    return l, acc, tp / max(tp + fp, 1), tp / max(tp + fn, 1)


t0 = time.time()
for ep in range(1, 9):
    order = mx.array(rng.permutation(2000))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = order[b * 50:(b + 1) * 50]
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        run += loss.item()
    vl, acc, prec, rec = evaluate()
    # BED6: chrom start end name score strand ; score = val accuracy * 1000
    print(f"epoch{ep:02d}\t{(ep - 1) * steps_per_epoch}\t{ep * steps_per_epoch}\t"
          f"train_bce={run / steps_per_epoch:.4f};val_bce={vl:.4f};prec={prec:.3f};rec={rec:.3f};"
          f"lr={float(sched(opt.step)):.4f};t={time.time() - t0:.1f}s\t{int(acc * 1000)}\t+")
print(f"track name=cpg_done description=\"final val acc {acc:.3f}\"")
