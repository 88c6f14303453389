"""Hammock workshop: stretch (%) of hammock-bed fabric panels under load.

Stage 1 trains a dense net on woven cotton test panels.  Stage 2 adapts it to
two other fabrics (polyester, nylon) with one low-rank adapter each while the
dense net stays frozen; the nylon run is stopped half way, checkpointed and
resumed from disk.  Stage 3 folds every adapter into plain dense weights,
exports them and reloads the exported files for a parity check.
"""
import math
import tempfile
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
T0 = time.time()


def cloth_panels(n, cloth):
    load = rng.uniform(0.1, 1.0, n)          # fraction of rated load
    bias = rng.uniform(0.0, 45.0, n)         # degrees off the warp
    weight = rng.uniform(3.0, 9.0, n)        # oz per square yard
    temp = rng.uniform(-5.0, 35.0, n)        # deg C
    cycles = rng.uniform(0.0, 4.0, n)        # log10 flex cycles
    b = np.radians(bias)
    if cloth == "cotton":
        s = 1.2 * load * (1 + 2.2 * np.sin(b) ** 2) / (weight / 5) + 0.01 * temp + 0.15 * cycles
    elif cloth == "polyester":
        s = 0.5 * load * (1 + 0.6 * np.sin(b) ** 2) / (weight / 5) + 0.004 * temp + 0.35 * cycles * load
    else:  # nylon
        s = 2.6 * load ** 0.8 * (1 + 1.1 * np.sin(b) ** 2) / (weight / 5) + 0.03 * temp + 0.05 * cycles
    s = s + rng.normal(0.0, 0.05, n)
    x = np.stack([load, bias / 45.0, weight / 9.0, temp / 35.0, cycles / 4.0], 1)
    return mx.array(x.astype(np.float32)), mx.array(s.astype(np.float32))


class StretchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(5, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


class LowRank(nn.Module):
    def __init__(self, base, rank=4, alpha=8.0):
        super().__init__()
        d_out, d_in = base.weight.shape
        self.base = base
        self.scale = alpha / rank
        self.down = mx.random.normal((d_in, rank)) * (1.0 / math.sqrt(d_in))
        self.up = mx.zeros((rank, d_out))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.down) @ self.up)

    def fold(self):
        d_out, d_in = self.base.weight.shape
        dense = nn.Linear(d_in, d_out)
        dense.weight = self.base.weight + self.scale * (self.down @ self.up).T
        dense.bias = self.base.bias
        return dense


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def rmse(model, x, y):
    return math.sqrt(mse(model, x, y).item())


def batches(n, bs):
    idx = mx.array(rng.permutation(n))
    for i in range(0, n - bs + 1, bs):
        yield idx[i:i + bs]


def run_epochs(model, opt, x, y, epochs, start_epoch, label, xv, yv):
    step = nn.value_and_grad(model, mse)
    for ep in range(start_epoch, start_epoch + epochs):
        tot, nb = 0.0, 0
        for b in batches(x.shape[0], 64):
            loss, g = step(model, x[b], y[b])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        lr = opt.learning_rate.item()
        print(f"  - {{run: {label}, epoch: {ep:2d}, lr: {lr:.5f}, "
              f"train_mse: {tot / nb:.5f}, valid_rmse: {rmse(model, xv, yv):.4f}}}")


def attach(net):
    for name in ("inp", "mid", "out"):
        setattr(net, name, LowRank(getattr(net, name)))


def adapter_arrays(net):
    return {k: v for k, v in tree_flatten(net.trainable_parameters())}


def main():
    mx.random.seed(5)
    work = Path(tempfile.mkdtemp())
    data = {c: (cloth_panels(3000, c), cloth_panels(600, c))
            for c in ("cotton", "polyester", "nylon")}

    print("data:")
    for c, ((x, y), _) in data.items():
        print(f"  {c}: {{panels: {x.shape[0]}, mean_stretch_pct: {y.mean().item():.3f}}}")

    # ---- stage 1: dense net on woven cotton -------------------------------
    base = StretchNet()
    mx.eval(base.parameters())
    warm = optim.linear_schedule(0.0, 4e-3, 150)
    decay = optim.cosine_decay(4e-3, 47 * 20, 2e-4)
    opt = optim.Adamax(learning_rate=optim.join_schedules([warm, decay], [150]))
    (xw, yw), (xwv, ywv) = data["cotton"]
    print("stage_1_cotton:")
    run_epochs(base, opt, xw, yw, 20, 1, "cotton", xwv, ywv)
    mx.save_safetensors(str(work / "base.safetensors"), dict(tree_flatten(base.parameters())))

    baselines = {}
    for c, (_, (xv, yv)) in data.items():
        const = math.sqrt(((yv - data[c][0][1].mean()) ** 2).mean().item())
        baselines[c] = (const, rmse(base, xv, yv))
    print("reference:")
    for c, (const, frozen) in baselines.items():
        print(f"  {c}: {{predict_train_mean_rmse: {const:.4f}, cotton_net_rmse: {frozen:.4f}}}")

    # ---- stage 2: one adapter per cloth, dense net frozen --------------------
    adapters = {}
    for cloth in ("polyester", "nylon"):
        (x, y), (xv, yv) = data[cloth]
        net = StretchNet()
        net.load_weights(str(work / "base.safetensors"))
        net.freeze()
        attach(net)
        n_ad = sum(v.size for v in adapter_arrays(net).values())
        print(f"stage_2_{cloth}:  # {n_ad} adapter values train, dense net frozen")
        sched = optim.cosine_decay(3e-3, 46 * 16, 1e-4)
        opt = optim.Adamax(learning_rate=sched)
        if cloth == "nylon":
            run_epochs(net, opt, x, y, 8, 1, cloth, xv, yv)
            ckpt = work / "nylon_ckpt"
            ckpt.mkdir()
            mx.save_safetensors(str(ckpt / "adapters.safetensors"), adapter_arrays(net))
            mx.save_safetensors(str(ckpt / "optimizer.safetensors"),
                                dict(tree_flatten(opt.state)))
            print(f"  # session ended after epoch 8, checkpoint at {ckpt.name}")
            net = StretchNet()
            net.load_weights(str(work / "base.safetensors"))
            net.freeze()
            attach(net)
            net.load_weights(str(ckpt / "adapters.safetensors"), strict=False)
            opt = optim.Adamax(learning_rate=sched)
            opt.init(net.trainable_parameters())
            opt.state = tree_unflatten(list(mx.load(str(ckpt / "optimizer.safetensors")).items()))
            print(f"  # resumed, optimizer step {opt.step.item()}, rmse "
                  f"{rmse(net, xv, yv):.4f}")
            run_epochs(net, opt, x, y, 8, 9, cloth, xv, yv)
        else:
            run_epochs(net, opt, x, y, 16, 1, cloth, xv, yv)
        adapters[cloth] = net

    # ---- stage 3: fold adapters into dense weights, export, reload -----------
    print("stage_3_export:")
    for cloth, net in adapters.items():
        (_, (xv, yv)) = data[cloth]
        live = net(xv)
        for name in ("inp", "mid", "out"):
            setattr(net, name, getattr(net, name).fold())
        path = work / f"stretch_{cloth}.safetensors"
        mx.save_safetensors(str(path), dict(tree_flatten(net.parameters())))
        plain = StretchNet()
        plain.load_weights(str(path))
        gap = mx.abs(plain(xv) - live).max().item()
        const, frozen = baselines[cloth]
        print(f"  {cloth}: {{exported_rmse: {rmse(plain, xv, yv):.4f}, "
              f"cotton_net_rmse: {frozen:.4f}, predict_mean_rmse: {const:.4f}, "
              f"max_abs_gap_vs_live: {gap:.2e}}}")
    reloaded = StretchNet()
    reloaded.load_weights(str(work / "base.safetensors"))
    print(f"  cotton: {{dense_net_rmse: {rmse(reloaded, xwv, ywv):.4f}}}")
    print(f"seconds: {time.time() - T0:.1f}")


if __name__ == "__main__":
    main()
