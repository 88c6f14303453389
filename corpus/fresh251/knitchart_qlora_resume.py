"""Knitting-chart row generator: QLoRA adaptation of a tiny next-stitch LM.

Stage 1 fits a small float next-stitch LM on rib/cable charts (one summary line).
Stage 2 packs every Linear of that LM to 4-bit (group 32) and freezes it, wraps
the hidden projections with low-rank adapters, and tunes only the
adapters on lace charts. The lace corpus comes from a Markov chain, so its
entropy rate is a hard floor for the validation loss; the run prints it.
Learning rate warms up from exactly 0, then cosine-decays. Half way through,
the run writes an adapter + optimizer checkpoint, throws the model away,
rebuilds it from the packed base on disk and resumes.
"""

import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

STITCHES = ["k", "p", "yo", "k2tog", "ssk", "sl", "c4f", "c4b", "|", "*", "m1", "kfb"]
V = len(STITCHES)
SEQ = 24
DIM = 64


def chain(seed, sharp):
    r = np.random.default_rng(seed)
    logits = r.normal(size=(V, V)) * sharp
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def stationary(P):
    w, v = np.linalg.eig(P.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    return pi / pi.sum()


def entropy_rate(P):
    pi = stationary(P)
    return float(-(pi[:, None] * P * np.log(P)).sum())


def sample(P, n, seed):
    r = np.random.default_rng(seed)
    out = np.zeros((n, SEQ + 1), dtype=np.int32)
    pi = stationary(P)
    out[:, 0] = r.choice(V, size=n, p=pi)
    cum = P.cumsum(1)
    for t in range(1, SEQ + 1):
        u = r.random(n)[:, None]
        out[:, t] = np.minimum((u > cum[out[:, t - 1]]).sum(1), V - 1)
    return out


class ChartLM(nn.Module):
    """Next-stitch model: each stitch conditions on the one before it."""

    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, DIM)
        self.up = nn.Linear(DIM, 2 * DIM)
        self.mid = nn.Linear(2 * DIM, 2 * DIM)
        self.down = nn.Linear(2 * DIM, DIM)
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, V)

    def __call__(self, ids):
        x = self.tok(ids)
        h = nn.gelu(self.up(x))
        h = nn.gelu(self.mid(h))
        x = x + self.down(h)
        return self.head(self.norm(x))


class LoRALinear(nn.Module):
    def __init__(self, base, rank=8, alpha=16.0):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        if isinstance(base, nn.QuantizedLinear):
            in_dims = in_dims * 32 // base.bits
        self.base = base
        self.base.freeze()
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))
        self.scale = alpha / rank

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


TARGETS = ("up", "mid", "down")


def attach_adapters(model):
    model.freeze()
    for name in TARGETS:
        setattr(model, name, LoRALinear(getattr(model, name)))
    return model


def loss_fn(model, batch):
    logits = model(batch[:, :-1])
    return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")


def evaluate(model, data):
    return float(loss_fn(model, mx.array(data)).item())


def batches(data, bs, seed):
    r = np.random.default_rng(seed)
    while True:
        idx = r.permutation(len(data))
        for i in range(0, len(idx) - bs + 1, bs):
            yield mx.array(data[idx[i:i + bs]])


def main():
    mx.random.seed(3)
    P_rib, P_lace = chain(11, 1.6), chain(29, 2.2)
    rib_train = sample(P_rib, 3000, 1)
    lace_train, lace_val = sample(P_lace, 384, 2), sample(P_lace, 512, 3)
    floor = entropy_rate(P_lace)

    # ---- stage 1: float pretraining on rib/cable charts (quiet) ----
    t0 = time.time()
    model = ChartLM()
    opt = optim.AdamW(learning_rate=5e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    gen = batches(rib_train, 64, 5)
    for _ in range(120):
        loss, g = step_fn(model, next(gen))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    float_lace = evaluate(model, lace_val)
    print(f"stage 1 float LM: rib val {evaluate(model, sample(P_rib, 512, 4)):.3f} "
          f"| lace val {float_lace:.3f} ({time.time() - t0:.1f}s)")

    # ---- stage 2: pack base to 4 bits, freeze, adapters on lace ----
    nn.quantize(model, group_size=32, bits=4,
                class_predicate=lambda p, m: isinstance(m, nn.Linear))
    workdir = tempfile.mkdtemp()
    base_path = os.path.join(workdir, "base_q4.safetensors")
    model.save_weights(base_path)
    packed_lace = evaluate(model, lace_val)
    attach_adapters(model)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"packed 4-bit base: lace val {packed_lace:.3f} (float {float_lace:.3f}, "
          f"entropy floor {floor:.3f})")
    print(f"trainable adapter params {n_train} of {n_all} stored values")

    steps, warm, peak = 400, 40, 3e-3
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-5)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    gen = batches(lace_train, 32, 9)

    def run(model, opt, start, stop):
        step_fn = nn.value_and_grad(model, loss_fn)
        acc = []
        for it in range(start, stop):
            lr_now = float(opt.learning_rate.item()) if it > 0 else 0.0
            loss, g = step_fn(model, next(gen))
            opt.update(model, g)
            mx.eval(model.trainable_parameters(), opt.state, loss)
            acc.append(loss.item())
            if (it + 1) % 50 == 0:
                print(f"step {it + 1:4d} | lr {lr_now:.2e} | train {np.mean(acc):.3f} | "
                      f"lace val {evaluate(model, lace_val):.3f} | floor {floor:.3f}")
                acc = []

    run(model, opt, 0, steps // 2)

    ckpt = os.path.join(workdir, "adapters_step200.safetensors")
    state = dict(tree_flatten(model.trainable_parameters()))
    state.update({f"opt.{k}": v for k, v in tree_flatten(opt.state)})
    mx.save_safetensors(ckpt, state)
    val_before = evaluate(model, lace_val)
    del model, opt

    # ---- restart from disk ----
    model = ChartLM()
    nn.quantize(model, group_size=32, bits=4,
                class_predicate=lambda p, m: isinstance(m, nn.Linear))
    model.load_weights(base_path)
    attach_adapters(model)
    saved = mx.load(ckpt)
    model.load_weights([(k, v) for k, v in saved.items() if not k.startswith("opt.")], strict=False)
    opt = optim.Adam(learning_rate=sched)
    opt.state = tree_unflatten([(k[4:], v) for k, v in saved.items() if k.startswith("opt.")])
    val_after = evaluate(model, lace_val)
    print(f"checkpoint reloaded at step {int(opt.step.item())}: lace val {val_after:.3f} "
          f"(before save {val_before:.3f})")
    run(model, opt, steps // 2, steps)

    final = evaluate(model, lace_val)
    print(f"final lace val {final:.3f} | packed base {packed_lace:.3f} | float base {float_lace:.3f} "
          f"| entropy floor {floor:.3f}")
    print(f"gap to floor closed: {(packed_lace - final) / (packed_lace - floor):.1%}")
    print(f"total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
