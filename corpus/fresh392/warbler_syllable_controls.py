"""Five-species warbler ID from song-syllable measurements, then control runs."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SPECIES = ["chiffchaff", "willow", "wood", "garden", "blackcap"]
N_FEAT = 10


def make_songs(n, rng):
    centres = rng.normal(0.0, 1.0, size=(len(SPECIES), N_FEAT)) * 0.9
    y = rng.integers(0, len(SPECIES), size=n)
    x = centres[y] + rng.normal(0.0, 1.0, size=(n, N_FEAT))
    # dominant frequency and trill rate interact for two of the species
    x[:, 3] += 0.8 * np.where(np.isin(y, [1, 2]), np.tanh(x[:, 0] * x[:, 1]), 0.0)
    return x.astype(np.float32), y.astype(np.int32)


class SongNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, len(SPECIES))

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=1) == y))


def fit(xtr, ytr, xva, yva, epochs, seed, label, verbose):
    mx.random.seed(seed)
    model = SongNet()
    steps_per_epoch = len(xtr) // 64
    total = epochs * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 100), optim.cosine_decay(3e-3, total - 100, 1e-5)], [100]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(seed)
    xtr_m, ytr_m = mx.array(xtr), mx.array(ytr)
    xva_m, yva_m = mx.array(xva), mx.array(yva)
    hist = []
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(xtr))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * 64:(b + 1) * 64])
            loss, grads = vg(model, xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        tr_acc = accuracy(model, xtr_m, ytr_m)
        va_loss = loss_fn(model, xva_m, yva_m).item()
        va_acc = accuracy(model, xva_m, yva_m)
        hist.append((ep, run / steps_per_epoch, va_loss, tr_acc, va_acc))
        if verbose and (ep <= 2 or ep % 4 == 0):
            print(f"  [{label}] epoch {ep:2d}  lr {opt.learning_rate.item():.2e}  train_ce {run / steps_per_epoch:.4f}"
                  f"  val_ce {va_loss:.4f}  train_acc {100 * tr_acc:5.1f}%  val_acc {100 * va_acc:5.1f}%")
    return model, hist


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    x, y = make_songs(3600, rng)
    mu, sd = x[:3000].mean(0), x[:3000].std(0)
    x = (x - mu) / sd
    xtr, ytr, xva, yva = x[:3000], y[:3000], x[3000:], y[3000:]
    print(f"recordings: train {len(xtr)}  val {len(xva)}  species {len(SPECIES)}  chance {100 / len(SPECIES):.1f}%")

    print("main run")
    model, hist = fit(xtr, ytr, xva, yva, epochs=20, seed=0, label="main", verbose=True)
    va_pred = np.array(mx.argmax(model(mx.array(xva)), axis=1))
    main_acc = float((va_pred == yva).mean())
    print(f"main run done: val_acc {100 * main_acc:.1f}%  ({time.time() - t0:.1f}s)")

    print("controls (same recipe)")
    shuffled = np.random.default_rng(99).permutation(ytr)
    _, h_shuf = fit(xtr, shuffled, xva, yva, epochs=20, seed=0, label="shuffled-labels", verbose=True)
    mx.random.seed(0)
    untrained = SongNet()
    init_acc = accuracy(untrained, mx.array(xva), mx.array(yva))
    init_ce = loss_fn(untrained, mx.array(xva), mx.array(yva)).item()

    perm_rng = np.random.default_rng(2024)
    null = np.array([(va_pred == perm_rng.permutation(yva)).mean() for _ in range(500)])
    p_value = (1 + (null >= main_acc).sum()) / (1 + len(null))

    print("summary")
    print(f"  {'run':<22}{'val_ce':>9}{'val_acc':>10}{'train_acc':>11}")
    print(f"  {'main':<22}{hist[-1][2]:9.4f}{100 * hist[-1][4]:9.1f}%{100 * hist[-1][3]:10.1f}%")
    print(f"  {'shuffled labels':<22}{h_shuf[-1][2]:9.4f}{100 * h_shuf[-1][4]:9.1f}%{100 * h_shuf[-1][3]:10.1f}%")
    print(f"  {'random init':<22}{init_ce:9.4f}{100 * init_acc:9.1f}%{'-':>11}")
    print(f"  permutation test: null mean {100 * null.mean():.1f}%  null max {100 * null.max():.1f}%  p = {p_value:.4f} (500 perms)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
