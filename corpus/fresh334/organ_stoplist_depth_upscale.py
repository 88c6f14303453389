"""Pipe-organ stop family from bench acoustics, grown by depth up-scaling.

A 4-block residual MLP is trained to tell principal / flute / reed / string /
mixture pipes apart from 12 synthetic voicing-bench readings.  Its weights
are saved, then loaded into a 6-block model: the first copy keeps blocks
0-2, the second copy keeps blocks 1-3 (overlap dropped, SOLAR-style).  The
grown model continues training with a fresh optimizer whose learning rate
starts at exactly 0.  The loss jumps right after the surgery and recovers.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(3)
N_FEAT, N_CLASS, WIDTH = 12, 5, 32
FAMILIES = ["principal", "flute", "reed", "string", "mixture"]


def make_bench(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    x = mx.random.normal((n, N_FEAT), key=k1)
    w = mx.random.normal((N_FEAT, N_CLASS), key=mx.random.key(101)) * 0.9
    harmonics = mx.stack([x[:, 0] * x[:, 1], mx.sin(2 * x[:, 2]), x[:, 3] ** 2 - 1,
                          mx.tanh(x[:, 4] * x[:, 5]), mx.abs(x[:, 6]) - 0.8], axis=1)
    logits = x @ w + 1.6 * harmonics
    g = -mx.log(-mx.log(mx.random.uniform(shape=logits.shape, key=k2) + 1e-9) + 1e-9)
    y = mx.argmax(logits + 0.6 * g, axis=1)  # sampled labels: a Bayes error floor exists
    return x, y


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.up = nn.Linear(d, 2 * d)
        self.down = nn.Linear(2 * d, d)

    def __call__(self, h):
        return h + self.down(nn.gelu(self.up(self.norm(h))))


class Voicer(nn.Module):
    def __init__(self, depth):
        super().__init__()
        self.inp = nn.Linear(N_FEAT, WIDTH)
        self.blocks = [Block(WIDTH) for _ in range(depth)]
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, N_CLASS)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.head(self.norm(h))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def acc(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def run(model, opt, x, y, xv, yv, steps, tag, start=0, bs=128, every=100):
    step_fn = nn.value_and_grad(model, ce)
    hist = []
    for s in range(start, start + steps):
        idx = mx.random.randint(0, x.shape[0], (bs,))
        loss, g = step_fn(model, x[idx], y[idx])
        g, gn = optim.clip_grad_norm(g, 1.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        hist.append(loss.item())
        if s % every == 0 or s == start + steps - 1:
            print(f"{tag} step {s:4d} lr {float(opt.learning_rate):.2e} loss {loss.item():.4f} "
                  f"gnorm {gn.item():.3f} val_acc {acc(model, xv, yv):.3f} val_ce {ce(model, xv, yv).item():.4f}")
    return hist


def grow(src_path, depth_small=4, overlap=2):
    """Load a saved small model into a deeper one by remapping block indices."""
    w = mx.load(src_path)
    keep_a = list(range(0, depth_small - overlap // 2))          # 0,1,2
    keep_b = list(range(overlap // 2, depth_small))              # 1,2,3
    order = keep_a + keep_b
    mapped = {}
    for k, v in w.items():
        if k.startswith("blocks."):
            _, i, rest = k.split(".", 2)
            for new_i, old_i in enumerate(order):
                if old_i == int(i):
                    mapped[f"blocks.{new_i}.{rest}"] = v
        else:
            mapped[k] = v
    big = Voicer(len(order))
    big.load_weights(list(mapped.items()), strict=True)
    mx.eval(big.parameters())
    return big, order


def main():
    t0 = time.time()
    ks = mx.random.split(mx.random.key(5), 3)
    x, y = make_bench(8000, ks[0])
    xv, yv = make_bench(2000, ks[1])
    counts = [int(mx.sum(yv == c).item()) for c in range(N_CLASS)]
    majority = max(counts) / yv.shape[0]
    print("val class counts " + ", ".join(f"{f}={c}" for f, c in zip(FAMILIES, counts)))
    print(f"majority-class baseline acc {majority:.3f}   uniform ce {float(mx.log(mx.array(N_CLASS))):.4f}")

    print("== phase A: 4-block voicer, AdamW, warm-up from 0 then cosine")
    small = Voicer(4)
    mx.eval(small.parameters())
    steps_a = 600
    sched_a = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 100),
                                    optim.cosine_decay(2e-3, steps_a - 100, 1e-4)], [100])
    opt_a = optim.AdamW(learning_rate=sched_a, weight_decay=0.01)
    run(small, opt_a, x, y, xv, yv, steps_a, "[4blk]", every=100)
    acc_small, ce_small = acc(small, xv, yv), ce(small, xv, yv).item()

    ck = os.path.join(tempfile.mkdtemp(), "voicer4.safetensors")
    small.save_weights(ck)
    n_small = sum(v.size for _, v in tree_flatten(small.parameters()))
    print(f"saved {os.path.basename(ck)} ({n_small} params)  val_acc {acc_small:.3f} val_ce {ce_small:.4f}")

    print("== surgery: 4 -> 6 blocks")
    big, order = grow(ck)
    n_big = sum(v.size for _, v in tree_flatten(big.parameters()))
    print(f"block order {order}  params {n_small} -> {n_big}")
    print(f"right after surgery: val_acc {acc(big, xv, yv):.3f} val_ce {ce(big, xv, yv).item():.4f} "
          f"(small was {ce_small:.4f}; a jump here is expected)")

    print("== phase B: 6-block continued training, fresh AdamW, warm-up from 0")
    steps_b = 400
    sched_b = optim.join_schedules([optim.linear_schedule(0.0, 3e-4, 80),
                                    optim.cosine_decay(3e-4, steps_b - 80, 2e-5)], [80])
    opt_b = optim.AdamW(learning_rate=sched_b, weight_decay=0.01)
    run(big, opt_b, x, y, xv, yv, steps_b, "[6blk]", start=steps_a, every=100)
    acc_big, ce_big = acc(big, xv, yv), ce(big, xv, yv).item()

    print(f"final  4blk val_acc {acc_small:.3f} ce {ce_small:.4f}  |  6blk val_acc {acc_big:.3f} ce {ce_big:.4f}  "
          f"|  majority {majority:.3f}")
    assert acc_big > majority + 0.2
    assert ce_big < ce_small + 0.05
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
