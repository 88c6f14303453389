import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# arena ice plant: from a stretch of surface-probe readings, call the sheet
# 0 = skate on, 1 = flood at next break, 2 = plant must cool harder
LABELS = ["skate_on", "flood", "cool"]


def sheet(rng, n_steps):
    temp = -4.5 + rng.normal(0, 0.6)
    cls = rng.integers(0, 3)
    drift = {0: 0.0, 1: 0.0, 2: 0.012}[cls]
    rough = {0: 0.15, 1: 0.55, 2: 0.2}[cls]
    t = np.arange(n_steps)
    surf = temp + drift * t + 0.1 * np.sin(t / 7) + rng.normal(0, 0.08, n_steps)
    grooves = np.abs(rng.normal(0, rough, n_steps)) + 0.05 * rng.normal(size=n_steps)
    crowd = (rng.random(n_steps) < 0.3).astype(np.float32) + 0.1 * rng.normal(size=n_steps)
    x = np.stack([surf + 4.5, grooves, crowd], -1).astype(np.float32)
    if rng.random() < 0.06:
        cls = rng.integers(0, 3)
    return x, cls


def batch(rng, size):
    n_steps = int(rng.integers(16, 160))
    xs, ys = zip(*(sheet(rng, n_steps) for _ in range(size)))
    return mx.array(np.stack(xs)), mx.array(np.array(ys, dtype=np.int32)), n_steps


class Probe(nn.Module):
    def __init__(self, c=3, w=32):
        super().__init__()
        self.c1 = nn.Conv1d(c, w, 5, padding=2)
        self.c2 = nn.Conv1d(w, w, 5, padding=2)
        self.head = nn.Linear(2 * w, 3)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h)) + h
        pooled = mx.concatenate([h.mean(1), h.max(1)], -1)
        return self.head(pooled)


def bar(v, full=40.0, width=20):
    k = min(width, int(round(width * v / full)))
    return "[" + "#" * k + "." * (width - k) + "]"


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    val = [batch(rng, 64) for _ in range(6)]
    counts = np.bincount(np.concatenate([np.array(v[1]) for v in val]), minlength=3)
    print(f"ice  held-out sheets {counts.sum()}, class counts {counts.tolist()}, majority-guess acc {counts.max() / counts.sum():.1%}")

    model = Probe()
    mx.eval(model.parameters())
    warm, total = 60, 600
    lr = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-4)], [warm])
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-3)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)

    def held_out():
        right, seen, ce = 0, 0, 0.0
        for x, y, _ in val:
            logits = model(x)
            ce += nn.losses.cross_entropy(logits, y, reduction="sum").item()
            right += (logits.argmax(-1) == y).sum().item()
            seen += y.shape[0]
        return ce / seen, right / seen

    ce0, acc0 = held_out()
    print(f"ice  step    0  held-out ce {ce0:.3f} acc {acc0:.1%}  (chance ce {np.log(3):.3f})")
    t0 = time.time()
    lens = []
    win = []
    mid = 0.0
    w0 = np.array(model.head.weight)
    for step in range(1, total + 1):
        x, y, n = batch(rng, 32)
        lens.append(n)
        loss, g = vg(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        win.append(loss.item())
        if step == 1:
            print(f"ice  step    1  first update ran at lr 0.0, head max|dW| {np.abs(np.array(model.head.weight) - w0).max():.1e}")
        if step % 30 == 10:
            mid = mx.get_cache_memory() / 2**20
        if step % 30 == 0:
            cache = mx.get_cache_memory() / 2**20
            mx.clear_cache()
            print(f"ice  step {step:4d}  lr {float(opt.learning_rate):.2e}  ce {np.mean(win):.3f}  "
                  f"lengths {min(lens):3d}-{max(lens):3d}  cache {mid:5.2f} {bar(cache)} {cache:5.2f} MB -> "
                  f"{mx.get_cache_memory() / 2**20:.2f} MB")
            win, lens = [], []
        if step % 150 == 0:
            ce, acc = held_out()
            print(f"ice  ---- held-out ce {ce:.3f} acc {acc:.1%} (majority {counts.max() / counts.sum():.1%}) "
                  f"active {mx.get_active_memory() / 2**20:.2f} MB  {time.time() - t0:.1f}s")
    print(f"ice  finished {total} steps in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
