"""Thatcher's yard: grade a reed bundle (4 grades) from 10 bench readings.

Stage 1 trains a small dense GELU network.  Its weights are checkpointed to
disk.  Stage 2 reloads them and "upcycles" the feed-forward block into 4
experts (each a copy of the dense block plus a little noise) behind a fresh
top-2 router, then keeps training with its own warm-up.  The dense model is
kept as a baseline and its validation numbers are printed next to the MoE.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

SEED = 7
N_FEAT, HID, FF, N_CLS, N_EXP, TOP_K = 10, 48, 96, 4, 4, 2

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_data(n):
    # three hidden cutting seasons, each with its own grading law
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    season = rng.integers(0, 3, size=n)
    x[:, 0] = season - 1.0 + 0.15 * rng.normal(size=n)  # noisy season hint
    w = np.stack([
        rng.normal(size=(N_FEAT, N_CLS)),
        rng.normal(size=(N_FEAT, N_CLS)),
        rng.normal(size=(N_FEAT, N_CLS)),
    ]).astype(np.float32)
    w[:, 0, :] = 0.0
    logits = np.einsum("nf,nfc->nc", x, w[season]) + 0.6 * np.sin(2 * x[:, 1:2] * x[:, 2:3])
    g = rng.gumbel(size=logits.shape)
    y = np.argmax(1.6 * logits + g, axis=1)
    return x, y.astype(np.int32)


# same law for train and val: draw once, split
X, Y = make_data(22000)
Xtr, Ytr = mx.array(X[:20000]), mx.array(Y[:20000])
Xva, Yva = mx.array(X[20000:]), mx.array(Y[20000:])
majority = float(np.bincount(Y[20000:]).max() / len(Y[20000:]))


class FFN(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(HID, FF)
        self.down = nn.Linear(FF, HID)

    def __call__(self, h):
        return self.down(nn.gelu(self.up(h)))


class Dense(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(N_FEAT, HID)
        self.norm = nn.LayerNorm(HID)
        self.ffn = FFN()
        self.head = nn.Linear(HID, N_CLS)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + self.ffn(self.norm(h))
        return self.head(h), mx.array(0.0)


class UpcycledMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(N_FEAT, HID)
        self.norm = nn.LayerNorm(HID)
        self.router = nn.Linear(HID, N_EXP, bias=False)
        self.experts = [FFN() for _ in range(N_EXP)]
        self.head = nn.Linear(HID, N_CLS)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        z = self.norm(h)
        logits = self.router(z)
        probs = mx.softmax(logits, axis=-1)
        top = mx.stop_gradient(mx.argpartition(-logits, TOP_K - 1, axis=-1)[:, :TOP_K])
        gate = mx.take_along_axis(probs, top, axis=-1)
        gate = gate / mx.sum(gate, axis=-1, keepdims=True)
        outs = mx.stack([e(z) for e in self.experts], axis=1)  # (B, E, H)
        mask = mx.sum(mx.eye(N_EXP)[top] * gate[..., None], axis=1)  # (B, E)
        h = h + mx.sum(outs * mask[..., None], axis=1)
        # Switch-style balance term: fraction routed x mean prob, times E
        frac = mx.mean(mx.sum(mx.eye(N_EXP)[top], axis=1), axis=0) / TOP_K
        aux = N_EXP * mx.sum(mx.stop_gradient(frac) * mx.mean(probs, axis=0))
        self._last_frac = frac
        return self.head(h), aux


def loss_fn(model, x, y, aux_w):
    logits, aux = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    return ce + aux_w * aux, (ce, aux)


def evaluate(model):
    logits, _ = model(Xva)
    ce = nn.losses.cross_entropy(logits, Yva, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == Yva)
    return ce.item(), acc.item()


def train(model, steps, peak, warm, aux_w, tag, log_every, baseline=None):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    vg = nn.value_and_grad(model, loss_fn)
    bs = 128
    n = Xtr.shape[0]
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, size=bs))
        lr_now = float(sched(opt.step))
        (tot, (ce, aux)), grads = vg(model, Xtr[idx], Ytr[idx], aux_w)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step == 1 or step % log_every == 0 or step == steps:
            vce, vacc = evaluate(model)
            line = (f"{tag} step {step:4d} lr {lr_now:.2e} train_ce {ce.item():.4f} "
                    f"aux {aux.item():.3f} val_ce {vce:.4f} val_acc {vacc:.3f}")
            if baseline is not None:
                line += f" | dense val_ce {baseline[0]:.4f} val_acc {baseline[1]:.3f}"
            if hasattr(model, "_last_frac"):
                fr = np.array(model._last_frac)
                line += " share " + "/".join(f"{v:.2f}" for v in fr)
            print(line, flush=True)
    return model


t0 = time.time()
print(f"data: train {Xtr.shape[0]} val {Xva.shape[0]} classes {N_CLS} majority-class val acc {majority:.3f}")

# ---- stage 1: dense ----
dense = Dense()
mx.eval(dense.parameters())
train(dense, 400, 3e-3, 50, 0.0, "dense", 100)
dense_val = evaluate(dense)
ckpt = os.path.join(tempfile.mkdtemp(), "dense.safetensors")
dense.save_weights(ckpt)
print(f"saved dense checkpoint ({len(tree_flatten(dense.parameters()))} tensors) val_ce {dense_val[0]:.4f} val_acc {dense_val[1]:.3f}")

# ---- stage 2: upcycle from the saved file ----
reload = Dense()
reload.load_weights(ckpt)
mx.eval(reload.parameters())
assert abs(evaluate(reload)[0] - dense_val[0]) < 1e-5
moe = UpcycledMoE()
moe.inp.update(reload.inp.parameters())
moe.norm.update(reload.norm.parameters())
moe.head.update(reload.head.parameters())
for e in moe.experts:
    p = reload.ffn.parameters()
    e.update({
        "up": {"weight": p["up"]["weight"] + 0.01 * mx.random.normal(p["up"]["weight"].shape),
               "bias": p["up"]["bias"]},
        "down": {"weight": p["down"]["weight"], "bias": p["down"]["bias"]},
    })
moe.router.weight = 0.02 * mx.random.normal(moe.router.weight.shape)
mx.eval(moe.parameters())
start = evaluate(moe)
print(f"upcycled start: val_ce {start[0]:.4f} val_acc {start[1]:.3f} (copies of the dense block, so close to dense)")

train(moe, 450, 1e-3, 60, 0.01, "moe", 75, baseline=dense_val)
final = evaluate(moe)
print(f"final: moe val_ce {final[0]:.4f} val_acc {final[1]:.3f} | dense val_ce {dense_val[0]:.4f} "
      f"val_acc {dense_val[1]:.3f} | majority {majority:.3f} | {time.time() - t0:.1f}s")
