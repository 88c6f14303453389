# Dendrochronology: which of 3 stands did a core come from?
# Each core is 48 annual rings x 2 channels (ring width index, latewood density),
# laid out (batch, length, channels) as MLX's Conv1d expects. Stands differ in their
# drought-cycle period and in how width and density co-vary; every core carries its
# own age trend and noise. The step is compiled with inputs/outputs state; training
# prints nothing until it is over, then a history table and early-stopping summary.
# The best validation weights are restored before the final test.
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

YEARS, CH, STANDS = 48, 2, 3
PERIODS = (7.0, 11.0, 17.0)
COUPLING = (0.8, -0.3, 0.3)


def make_cores(rng, n):
    stand = rng.integers(0, STANDS, size=n)
    t = np.arange(YEARS)[None, :]
    period = np.array(PERIODS)[stand][:, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    climate = np.sin(2 * np.pi * t / period + phase)
    age = np.exp(-t / rng.uniform(15, 60, size=(n, 1)))
    width = 0.5 * climate + 1.2 * age + 0.9 * rng.standard_normal((n, YEARS))
    dens = np.array(COUPLING)[stand][:, None] * climate + 0.9 * rng.standard_normal((n, YEARS))
    x = np.stack([width, dens], axis=-1).astype(np.float32)
    return x, stand.astype(np.int32)


class CoreNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(CH, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 24, kernel_size=5, stride=2, padding=2)
        self.head = nn.Linear(48, STANDS)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(pooled)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y, chunk=500):
    tot_loss, wrong = 0.0, 0
    for i in range(0, x.shape[0], chunk):
        logits = model(x[i:i + chunk])
        yy = y[i:i + chunk]
        tot_loss += nn.losses.cross_entropy(logits, yy, reduction="sum").item()
        wrong += mx.sum(mx.argmax(logits, axis=1) != yy).item()
    return tot_loss / x.shape[0], 100.0 * wrong / x.shape[0]


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(2024)
    x_tr, y_tr = make_cores(rng, 2400)
    x_va, y_va = make_cores(rng, 800)
    x_te, y_te = make_cores(rng, 800)
    mu = x_tr.reshape(-1, CH).mean(0)
    sd = x_tr.reshape(-1, CH).std(0)
    x_tr, x_va, x_te = [mx.array((a - mu) / sd) for a in (x_tr, x_va, x_te)]
    y_tr, y_va, y_te = mx.array(y_tr), mx.array(y_va), mx.array(y_te)

    model = CoreNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    grad_fn = nn.value_and_grad(model, ce)

    _, g0 = grad_fn(model, x_tr[:64], y_tr[:64])
    flat = tree_flatten(g0)
    zero = [k for k, g in flat if mx.all(g == 0).item()]

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = grad_fn(model, x, y)
        opt.update(model, grads)
        return loss

    batch, max_epochs, patience = 80, 40, 4
    history, best = [], (float("inf"), 0, None)
    bad = 0
    t0 = time.time()
    for epoch in range(1, max_epochs + 1):
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        run = 0.0
        nb = x_tr.shape[0] // batch
        for b in range(nb):
            idx = perm[b * batch:(b + 1) * batch]
            loss = step(x_tr[idx], y_tr[idx])
            mx.eval(state, loss)
            run += loss.item()
        va_loss, va_err = evaluate(model, x_va, y_va)
        history.append((epoch, run / nb, va_loss, va_err))
        if va_loss < best[0]:
            snapshot = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(snapshot)
            best, bad = (va_loss, epoch, snapshot), 0
        else:
            bad += 1
            if bad >= patience:
                break
    secs = time.time() - t0

    print(f"cores: train {x_tr.shape[0]}  valid {x_va.shape[0]}  test {x_te.shape[0]}  (N, L, C) = {tuple(x_tr.shape)}")
    print(f"first-batch gradient: {len(flat)} leaves, all-zero: {zero if zero else 'none'}")
    print()
    print(f"{'epoch':>5}  {'train CE':>9}  {'valid CE':>9}  {'valid error %':>13}")
    print("=" * 43)
    for e, tr, vl, ve in history:
        mark = "  <- kept" if e == best[1] else ""
        print(f"{e:>5}  {tr:>9.4f}  {vl:>9.4f}  {ve:>13.2f}{mark}")
    print("=" * 43)
    print(f"stopped after epoch {history[-1][0]} ({patience} epochs without a better valid CE), {secs:.1f} s")
    last_te = evaluate(model, x_te, y_te)
    model.update(best[2])
    mx.eval(model.parameters())
    best_te = evaluate(model, x_te, y_te)
    print(f"test with last-epoch weights : CE {last_te[0]:.4f}  error {last_te[1]:.2f} %")
    print(f"test with restored epoch {best[1]:>2}  : CE {best_te[0]:.4f}  error {best_te[1]:.2f} %  (chance error 66.67 %)")


if __name__ == "__main__":
    main()
