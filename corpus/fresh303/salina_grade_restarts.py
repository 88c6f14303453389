"""Solar salt pans: grade of a harvest lot (fine / coarse / off-white).

Float16 working model, float32 master copy held in a plain dict and moved
by optim.SGD with momentum, loss with label smoothing computed in float32,
cosine schedule with warm restarts. Prints only at the end of each cycle.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

GRADES = ["fine", "coarse", "off-white"]


def make_pans(n, rng):
    brine_be = rng.uniform(20, 29, n)          # Baume density
    evap = rng.uniform(2, 12, n)               # mm/day
    wind = rng.uniform(0, 9, n)                # m/s
    rain48 = rng.exponential(2.0, n)           # mm in last 48 h
    depth = rng.uniform(2, 15, n)              # cm brine depth
    days = rng.uniform(3, 40, n)               # days since flooding
    clay = rng.uniform(0, 1, n)                # floor clay index
    rake = rng.integers(0, 2, n)               # raked early flag
    z_coarse = 0.35 * (days - 18) + 0.25 * (depth - 8) - 0.3 * evap * (rake == 1)
    z_off = 1.4 * clay + 0.4 * rain48 + 0.25 * wind - 0.6 * (brine_be - 25.5) - 2.5
    z_fine = 0.4 * (evap - 6) + 0.3 * wind
    logits = np.stack([z_fine, z_coarse, z_off], 1) + rng.gumbel(0, 1.0, (n, 3))
    grade = logits.argmax(1)
    x = np.stack([brine_be, evap, wind, np.log1p(rain48), depth, days, clay, rake], 1)
    return x.astype(np.float32), grade.astype(np.int32)


def build(seed):
    mx.random.seed(seed)
    return nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                         nn.Linear(64, 3))


def main():
    rng = np.random.default_rng(11)
    x, g = make_pans(16000, rng)
    ntr = 13000
    mu, sd = x[:ntr].mean(0), x[:ntr].std(0)
    xs = ((x - mu) / sd).astype(np.float16)
    Xtr, Gtr = mx.array(xs[:ntr]), mx.array(g[:ntr])
    Xte, Gte = mx.array(xs[ntr:]), g[ntr:]
    counts = np.bincount(g[:ntr], minlength=3)
    majority = float(np.mean(Gte == counts.argmax()))
    print("salt pans: grade shares " + ", ".join(
        f"{n} {100 * c / ntr:.0f}%" for n, c in zip(GRADES, counts)))
    print(f"majority-grade baseline accuracy {100 * majority:.1f}%")

    model = build(5)
    master = tree_map(lambda p: p.astype(mx.float32), model.parameters())
    model.set_dtype(mx.float16)
    mx.eval(master, model.parameters())

    cycles, per_cycle, bs = 3, 500, 128
    peak, floor = 0.08, 0.002

    def lr_sched(step):
        t = (step % per_cycle) / per_cycle
        return floor + 0.5 * (peak - floor) * (1 + np.cos(np.pi * t))

    opt = optim.SGD(learning_rate=peak, momentum=0.9, weight_decay=1e-4, nesterov=True)
    opt.init(master)

    def loss_fn(m, xb, gb):
        logits = m(xb).astype(mx.float32)
        return nn.losses.cross_entropy(logits, gb, label_smoothing=0.1, reduction="mean")

    grad_fn = nn.value_and_grad(model, loss_fn)

    def evaluate():
        logits = model(Xte).astype(mx.float32)
        ce = nn.losses.cross_entropy(logits, mx.array(Gte), reduction="mean").item()
        acc = float(np.mean(np.array(logits.argmax(-1)) == Gte))
        return ce, acc

    ce0, acc0 = evaluate()
    print(f"untrained: test CE {ce0:.3f} nats, accuracy {100 * acc0:.1f}%")

    # one gradient look before training
    _, g0 = grad_fn(model, Xtr[:bs], Gtr[:bs])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"grad check: {len(leaves)} leaves, dtype {leaves[0][1].dtype}, all-zero leaves {zero}")

    t0 = time.time()
    step, prev_acc = 0, None
    for c in range(cycles):
        run = []
        for _ in range(per_cycle):
            idx = mx.array(rng.integers(0, ntr, bs))
            loss, grads = grad_fn(model, Xtr[idx], Gtr[idx])
            grads32 = tree_map(lambda v: v.astype(mx.float32), grads)
            opt.learning_rate = lr_sched(step)
            master = opt.apply_gradients(grads32, master)
            model.update(tree_map(lambda p: p.astype(mx.float16), master))
            mx.eval(master, model.parameters(), opt.state, loss)
            run.append(loss.item())
            step += 1
        ce, acc = evaluate()
        delta = "" if prev_acc is None else f"  change {100 * (acc - prev_acc):+.1f} pts"
        print(f"cycle {c + 1}/{cycles} (steps {step - per_cycle + 1}-{step}): "
              f"first-50 train loss {np.mean(run[:50]):.3f}, last-50 {np.mean(run[-50:]):.3f} "
              f"(label smoothing floor > 0)  test CE {ce:.3f}  acc {100 * acc:.1f}% "
              f"vs majority {100 * majority:.1f}%{delta}")
        prev_acc = acc
    print(f"done in {time.time() - t0:.1f}s; working weights {model.layers[0].weight.dtype}, "
          f"master {master['layers'][0]['weight'].dtype}")


if __name__ == "__main__":
    main()
