"""Sauna stove sizing helper.

Predict how many minutes a wood/electric sauna stove needs to bring the room to
80 C, from a few things an installer knows before the job.  We train a small
dense net first, then prune it once (global magnitude pruning, 75 % of the
hidden weights) so it fits on the little controller board, and fine-tune the
survivors.  Pruned weights are kept at exactly zero by a mask that is applied
after every update.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

FEATURES = ["stove_kw", "room_m3", "stones_kg", "outdoor_c",
            "insulation", "glass_m2", "vent"]


def make_saunas(n, rng):
    kw = rng.uniform(6, 12, n)
    vol = rng.uniform(6, 16, n)
    stones = rng.uniform(20, 80, n)
    outdoor = rng.uniform(-25, 25, n)
    insul = rng.uniform(0, 1, n)
    glass = rng.uniform(0, 2, n)
    vent = rng.uniform(0, 1, n)
    # made-up heat balance: room + stones to heat, losses through walls/glass
    load = vol * (1.0 + 0.35 * glass) * (1.25 - 0.45 * insul) + 0.12 * stones
    loss = (80 - outdoor) * (0.04 + 0.03 * vent) * (1.3 - 0.5 * insul)
    minutes = 12 + 55 * load / (kw * 10 - loss * 0.6)
    minutes = minutes * np.exp(rng.normal(0, 0.04, n))
    x = np.stack([kw, vol, stones, outdoor, insul, glass, vent], 1)
    return x.astype(np.float32), minutes.astype(np.float32)


class SaunaNet(nn.Module):
    def __init__(self, d_in, width=96):
        super().__init__()
        self.hidden1 = nn.Linear(d_in, width)
        self.hidden2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.hidden1(x))
        h = nn.silu(self.hidden2(h))
        return self.head(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def evaluate(model, x, y, mu_y, sd_y):
    pred = model(x)
    mx.eval(pred)
    p = np.array(pred) * sd_y + mu_y
    t = np.array(y) * sd_y + mu_y
    minutes_p, minutes_t = np.exp(p), np.exp(t)
    mae = float(np.mean(np.abs(minutes_p - minutes_t)))
    zmse = float(np.mean((np.array(pred) - np.array(y)) ** 2))
    return zmse, mae


def global_magnitude_masks(model, names, fraction):
    flat = dict(tree_flatten(model.parameters()))
    pooled = np.concatenate([np.abs(np.array(flat[k])).ravel() for k in names])
    cut = np.quantile(pooled, fraction)
    return {k: (mx.abs(flat[k]) > cut).astype(mx.float32) for k in names}


def apply_masks(model, masks):
    flat = dict(tree_flatten(model.parameters()))
    model.update(tree_unflatten([(k, flat[k] * m) for k, m in masks.items()]))


def run_epochs(tag, model, opt, xtr, ytr, xva, yva, mu_y, sd_y, epochs,
               batch, rng, masks=None):
    loss_and_grad = nn.value_and_grad(model, mse)
    n = xtr.shape[0]
    for ep in range(1, epochs + 1):
        order = rng.permutation(n)
        total, seen = 0.0, 0
        for start in range(0, n - batch + 1, batch):
            idx = mx.array(order[start:start + batch])
            loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
            if masks is not None:
                flat_g = dict(tree_flatten(grads))
                for k, m in masks.items():
                    flat_g[k] = flat_g[k] * m
                grads = tree_unflatten(list(flat_g.items()))
            opt.update(model, grads)
            if masks is not None:
                apply_masks(model, masks)
            mx.eval(model.parameters(), opt.state, loss)
            total += loss.item() * batch
            seen += batch
        zmse, mae = evaluate(model, xva, yva, mu_y, sd_y)
        print(f"{tag} epoch {ep:2d}: train mse {total / seen:.4f} (z units), "
              f"val mse {zmse:.4f}, val error {mae:.2f} min")


def main():
    t0 = time.time()
    rng = np.random.default_rng(118)
    mx.random.seed(118)
    x_all, minutes = make_saunas(9000, rng)
    y_all = np.log(minutes)
    xtr_np, xva_np = x_all[:7500], x_all[7500:]
    ytr_np, yva_np = y_all[:7500], y_all[7500:]
    mu_x, sd_x = xtr_np.mean(0), xtr_np.std(0)
    mu_y, sd_y = float(ytr_np.mean()), float(ytr_np.std())
    xtr = mx.array((xtr_np - mu_x) / sd_x)
    xva = mx.array((xva_np - mu_x) / sd_x)
    ytr = mx.array((ytr_np - mu_y) / sd_y)
    yva = mx.array((yva_np - mu_y) / sd_y)
    print(f"{len(xtr_np)} saunas to train on, {len(xva_np)} held out; "
          f"median heat-up {np.median(minutes):.1f} min")
    base_mae = float(np.mean(np.abs(np.exp(yva_np) - np.exp(mu_y))))
    print(f"guess-the-average error: {base_mae:.2f} min")

    model = SaunaNet(len(FEATURES))
    mx.eval(model.parameters())

    # sanity check: every parameter gets some gradient on the first batch
    _, g0 = nn.value_and_grad(model, mse)(model, xtr[:128], ytr[:128])
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    print(f"first-batch gradient check: {len(tree_flatten(g0))} tensors, "
          f"all-zero: {dead if dead else 'none'}")

    print("-- dense training (Adam) --")
    opt = optim.Adam(learning_rate=2e-3)
    run_epochs("dense", model, opt, xtr, ytr, xva, yva, mu_y, sd_y,
               epochs=8, batch=64, rng=rng)

    prunable = ["hidden1.weight", "hidden2.weight", "head.weight"]
    masks = global_magnitude_masks(model, prunable, 0.75)
    apply_masks(model, masks)
    mx.eval(model.parameters())
    kept = sum(float(m.sum()) for m in masks.values())
    size = sum(m.size for m in masks.values())
    zmse, mae = evaluate(model, xva, yva, mu_y, sd_y)
    print(f"pruned once: {kept:.0f}/{size} weights kept "
          f"({100 * kept / size:.1f} %), right after pruning val mse "
          f"{zmse:.4f}, val error {mae:.2f} min")

    print("-- masked fine-tune (Lion) --")
    opt2 = optim.Lion(learning_rate=2e-4, weight_decay=0.0)
    run_epochs("sparse", model, opt2, xtr, ytr, xva, yva, mu_y, sd_y,
               epochs=8, batch=64, rng=rng, masks=masks)

    flat = dict(tree_flatten(model.parameters()))
    leaked = sum(float(mx.sum((masks[k] == 0) & (flat[k] != 0)))
                 for k in prunable)
    print(f"pruned weights that came back to life: {leaked:.0f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
