# Tea steeping: fraction of the leaf's soluble solids extracted into the cup,
# with a heteroscedastic LOGISTIC likelihood.
# Inputs: leaf cut size (microns), steep time (s), water temperature (C).
# The net predicts the location and log-scale of a logistic distribution of
# the extracted fraction (~0.15-0.24); the loss is the NLL in nats per cup,
# which is below zero from the start and ends far below it because the
# fractions are tight.
# Compiled Adam step (model + optimizer state given to mx.compile), early
# stopping on a held-out set, best weights kept in a temp directory and
# loaded back at the end.
import math
import os
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def steep(rng, n):
    cut = rng.uniform(200.0, 1100.0, size=n)
    steep_s = rng.uniform(60.0, 300.0, size=n)
    temp = rng.uniform(70.0, 98.0, size=n)
    fine = (1100.0 - cut) / 900.0                       # 0 whole leaf .. 1 fannings
    mean = 0.15 + 0.07 * fine * (1 - np.exp(-steep_s / 150.0)) + 0.0015 * (temp - 84.0) \
        + 0.01 * np.tanh((steep_s - 180.0) / 45.0)
    scale = 0.002 + 0.006 * (1.0 - fine) ** 2           # whole leaves unfurl unevenly
    y = mean + rng.logistic(0.0, scale)
    x = np.stack([cut, steep_s, temp], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


class ExtractionNet(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.head = nn.Linear(hidden, 2)

    def __call__(self, x):
        out = self.head(self.trunk(x))
        loc = 0.2 + out[:, 0]
        log_s = mx.clip(out[:, 1] - 3.0, -9.0, 0.0)
        return loc, log_s


def logistic_nll(model, x, y):
    loc, log_s = model(x)
    z = (y - loc) * mx.exp(-log_s)
    # -log p = log s + z + 2 log(1 + e^{-z})
    return (log_s + z + 2.0 * nn.softplus(-z)).mean()


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    x_tr, y_tr = steep(rng, 16000)
    x_va, y_va = steep(rng, 1500)
    mu, sd = x_tr.mean(0), x_tr.std(0)
    x_tr = (x_tr - mu) / sd
    x_va = (x_va - mu) / sd
    xv, yv = mx.array(x_va), mx.array(y_va)

    model = ExtractionNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    loss_and_grad = nn.value_and_grad(model, logistic_nll)

    _, g0 = loss_and_grad(model, mx.array(x_tr[:256]), mx.array(y_tr[:256]))
    zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    assert not zero, zero
    print(f"gradient check: {len(tree_flatten(g0))} leaves, all non-zero")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb, yb):
        loss, grads = loss_and_grad(model, xb, yb)
        opt.update(model, grads)
        return loss

    ckpt_dir = tempfile.mkdtemp(prefix="tea_steep_")
    best_path = os.path.join(ckpt_dir, "best.safetensors")
    batch, max_epochs, patience = 128, 150, 15
    best_val, best_epoch, waited = float("inf"), 0, 0
    t0 = time.time()

    print(f"untrained: val nll {logistic_nll(model, xv, yv).item():+.4f} nats/cup")
    for epoch in range(1, max_epochs + 1):
        perm = rng.permutation(len(x_tr))
        n_batches = len(x_tr) // batch
        total = 0.0
        for b in range(n_batches):
            sel = perm[b * batch:(b + 1) * batch]
            loss = train_step(mx.array(x_tr[sel]), mx.array(y_tr[sel]))
            mx.eval(state, loss)
            total += loss.item()
        train_nll = total / n_batches
        val_nll = logistic_nll(model, xv, yv).item()

        note = ""
        if val_nll < best_val - 1e-4:
            best_val, best_epoch, waited = val_nll, epoch, 0
            model.save_weights(best_path)
            note = "  <- best, saved"
        else:
            waited += 1
        if epoch % 10 == 0 or epoch <= 3:
            print(f"epoch {epoch:3d}: train nll {train_nll:+.4f}, val nll {val_nll:+.4f}{note}")
        if waited >= patience:
            print(f"no val improvement for {patience} epochs, stopping after epoch {epoch}")
            break

    last_val = logistic_nll(model, xv, yv).item()
    model.load_weights(best_path)
    mx.eval(model.parameters())
    restored = logistic_nll(model, xv, yv).item()
    loc, log_s = model(xv)
    mae = float(mx.abs(loc - yv).mean())
    print(f"weights at stop: val nll {last_val:+.4f}")
    print(f"restored epoch {best_epoch} weights: val nll {restored:+.4f} (recorded {best_val:+.4f})")
    print(f"val mean abs error of the location {100 * mae:.3f} percentage points, "
          f"median predicted scale {100 * float(np.median(np.exp(np.array(log_s)))):.3f} points, "
          f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
