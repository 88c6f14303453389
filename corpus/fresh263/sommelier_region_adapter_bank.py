"""Blind-tasting grape variety classifier with a bank of per-region LoRA adapters.

A small MLP is fitted on wines from the home region, then frozen.  Two other
regions each get their own low-rank adapter, trained one after the other on the
same frozen base and kept in an adapter bank.  At serving time an adapter is
swapped in per region; an averaged "blend" adapter is also scored, and each
region's adapter is folded into plain Linear weights, written to safetensors,
read back into a fresh plain model and compared against the adapter path.

Every report is an RFC-822 style block of "Header: value" lines, blocks
separated by a blank line.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_FEAT, N_CLASS, HID = 8, 5, 64
LABEL_FLIP = 0.08          # tasting-sheet mistakes: a ceiling on accuracy
VARIETIES = ["riesling", "chardonnay", "pinot", "syrah", "cabernet"]


def block(title, **fields):
    print(f"Report: {title}")
    for k, v in fields.items():
        key = "-".join(p.capitalize() for p in k.split("_"))
        print(f"{key}: {v}")
    print()


def make_region(rng, n, shift, tilt):
    """Synthetic chemistry: acidity, sugar, tannin, alcohol, pH, colour, ester, oak."""
    centres = np.array([
        [7.5, 9.0, 0.2, 11.0, 3.1, 0.2, 0.8, 0.0],
        [6.0, 3.0, 0.3, 13.5, 3.4, 0.3, 0.5, 0.8],
        [5.8, 2.5, 1.2, 13.0, 3.5, 1.5, 0.9, 0.4],
        [5.2, 2.2, 2.6, 14.2, 3.7, 2.6, 0.4, 0.6],
        [5.6, 2.0, 3.0, 13.8, 3.6, 2.4, 0.3, 0.9],
    ])
    y = rng.integers(0, N_CLASS, size=n)
    x = centres[y] + rng.normal(0.0, 0.55, size=(n, N_FEAT))
    x = x + shift                         # regional offset (climate, soil)
    x[:, 1] = x[:, 1] + tilt * x[:, 3]    # warmer region: sugar tracks alcohol
    flip = rng.random(n) < LABEL_FLIP
    y = np.where(flip, rng.integers(0, N_CLASS, size=n), y)
    return x.astype(np.float32), y.astype(np.int32)


class LoRA(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float, key):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.scale = alpha / r
        bound = 1.0 / math.sqrt(in_d)
        self.a = mx.random.uniform(-bound, bound, (in_d, r), key=key)
        self.b = mx.zeros((r, out_d))

    def delta(self):
        return (self.scale * (self.a @ self.b)).T

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.a) @ self.b)


class Taster(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, HID)
        self.l2 = nn.Linear(HID, HID)
        self.head = nn.Linear(HID, N_CLASS)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.head(h)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=-1) == y).item()) * 100.0


def batches(rng, n, bs):
    idx = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(idx[i:i + bs])


def wrap(model, key, r=4, alpha=8.0):
    k1, k2 = mx.random.split(key)
    model.l2 = LoRA(model.l2, r, alpha, k1)
    model.head = LoRA(model.head, r, alpha, k2)


def adapter_tensors(model):
    return {"l2.a": model.l2.a, "l2.b": model.l2.b,
            "head.a": model.head.a, "head.b": model.head.b}


def load_adapter(model, tensors):
    model.l2.a, model.l2.b = tensors["l2.a"], tensors["l2.b"]
    model.head.a, model.head.b = tensors["head.a"], tensors["head.b"]


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(11)
    mx.random.seed(11)

    regions = {
        "mosel": make_region(rng, 5000, np.zeros(N_FEAT), 0.0),
        "barossa": make_region(rng, 900, np.array([-0.9, 0.4, 0.5, 1.2, 0.2, 0.3, -0.2, 0.3]), 0.35),
        "rioja": make_region(rng, 900, np.array([-0.4, -0.6, 0.9, 0.4, 0.1, 0.8, 0.1, 1.1]), -0.25),
    }
    data = {}
    for name, (x, y) in regions.items():
        n_val = len(x) // 5
        mu = regions["mosel"][0].mean(0) if name != "mosel" else x.mean(0)
        sd = regions["mosel"][0].std(0) + 1e-6 if name != "mosel" else x.std(0) + 1e-6
        xs = (x - mu) / sd
        data[name] = (mx.array(xs[n_val:]), mx.array(y[n_val:]), mx.array(xs[:n_val]), mx.array(y[:n_val]))
    block("data", regions=", ".join(f"{k}={len(v[0])}+{len(v[2])}" for k, v in data.items()),
          varieties=" ".join(VARIETIES), label_flip=f"{LABEL_FLIP:.2f}",
          accuracy_ceiling_pct=f"{(1 - LABEL_FLIP * (N_CLASS - 1) / N_CLASS) * 100:.1f}",
          chance_pct=f"{100 / N_CLASS:.1f}")

    # ---- stage 1: base on the home region, silent until done ----
    model = Taster()
    opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 12 * 12, 2e-4))
    lg = nn.value_and_grad(model, xent)
    xtr, ytr, xva, yva = data["mosel"]
    for ep in range(12):
        for idx in batches(rng, xtr.shape[0], 320):
            loss, g = lg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
    base_acc = {k: accuracy(model, v[2], v[3]) for k, v in data.items()}
    block("base", region="mosel", epochs=12, val_xent=f"{xent(model, xva, yva).item():.4f}",
          **{f"val_acc_pct_{k}": f"{a:.1f}" for k, a in base_acc.items()},
          secs=f"{time.perf_counter() - t0:.1f}")

    # ---- stage 2: adapter bank, one region after the other ----
    model.freeze()
    wrap(model, mx.random.key(5))
    base_snapshot = {k: mx.array(v) for k, v in tree_flatten(model.parameters())
                     if ".base." in k or k.startswith("l1.")}
    init_adapter = {k: mx.array(v) for k, v in adapter_tensors(model).items()}
    bank = {}
    steps_per_region, warm = 240, 40
    for region in ("barossa", "rioja"):
        load_adapter(model, {k: mx.array(v) for k, v in init_adapter.items()})
        model.freeze()
        model.l2.unfreeze(keys=["a", "b"])
        model.head.unfreeze(keys=["a", "b"])
        n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, steps_per_region - warm, 1e-4)],
            [warm])
        opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
        lg = nn.value_and_grad(model, xent)
        xtr, ytr, xva, yva = data[region]
        block("adapter-start", region=region, trainable_values=n_train,
              first_lr=f"{float(sched(0)):.6f}", frozen_base="yes",
              val_acc_pct_before=f"{accuracy(model, xva, yva):.1f}")
        step, ema = 0, None
        while step < steps_per_region:
            for idx in batches(rng, xtr.shape[0], 48):
                if step >= steps_per_region:
                    break
                lr_now = float(sched(step))
                loss, g = lg(model, xtr[idx], ytr[idx])
                opt.update(model, g)
                mx.eval(model.trainable_parameters(), opt.state, loss)
                step += 1
                ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
                if step % 60 == 0 or step == 1:
                    block("adapter-step", region=region, step=step, lr=f"{lr_now:.6f}",
                          ema_xent=f"{ema:.4f}", val_xent=f"{xent(model, xva, yva).item():.4f}",
                          val_acc_pct=f"{accuracy(model, xva, yva):.1f}",
                          base_model_acc_pct=f"{base_acc[region]:.1f}")
        bank[region] = {k: mx.array(v) for k, v in adapter_tensors(model).items()}

    drift = max(float(mx.max(mx.abs(v - base_snapshot[k])).item())
                for k, v in tree_flatten(model.parameters()) if k in base_snapshot)

    # ---- serving: hot-swap adapters per region, plus an averaged blend ----
    scores = {}
    for serve in ("barossa", "rioja"):
        for name in ("barossa", "rioja"):
            load_adapter(model, bank[name])
            scores[(serve, name)] = accuracy(model, data[serve][2], data[serve][3])
    blend = tree_map(lambda a, b: 0.5 * (a + b), bank["barossa"], bank["rioja"])
    # the blend averages the factors, not the products, as a cheap soup
    load_adapter(model, blend)
    blend_acc = {s: accuracy(model, data[s][2], data[s][3]) for s in ("barossa", "rioja")}
    for serve in ("barossa", "rioja"):
        block("swap", serve_region=serve,
              with_barossa_adapter_pct=f"{scores[(serve, 'barossa')]:.1f}",
              with_rioja_adapter_pct=f"{scores[(serve, 'rioja')]:.1f}",
              with_blend_pct=f"{blend_acc[serve]:.1f}",
              base_only_pct=f"{base_acc[serve]:.1f}")

    # ---- fold each adapter into plain weights, save, reload, compare ----
    tmp = tempfile.mkdtemp(None, "taster_")
    for region in ("barossa", "rioja"):
        load_adapter(model, bank[region])
        fused = {
            "l1.weight": model.l1.weight, "l1.bias": model.l1.bias,
            "l2.weight": model.l2.base.weight + model.l2.delta(), "l2.bias": model.l2.base.bias,
            "head.weight": model.head.base.weight + model.head.delta(), "head.bias": model.head.base.bias,
        }
        path = os.path.join(tmp, f"{region}.safetensors")
        mx.save_safetensors(path, fused)
        plain = Taster()
        plain.load_weights(path)
        xva = data[region][2]
        gap = float(mx.max(mx.abs(plain(xva) - model(xva))).item())
        block("fused", region=region, file=os.path.basename(path),
              bytes=os.path.getsize(path), max_logit_gap=f"{gap:.2e}",
              plain_model_acc_pct=f"{accuracy(plain, xva, data[region][3]):.1f}")

    block("done", frozen_base_max_drift=f"{drift:.1f}",
          adapters_in_bank=len(bank), secs=f"{time.perf_counter() - t0:.1f}")


if __name__ == "__main__":
    main()
