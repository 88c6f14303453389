# Ferry dock berth planner: two-stage training on a dual-tower model.
# Stage 1 learns congestion classes (task A). Stage 2 adds a head for
# crane-queue classes (task B) while the feature towers are held, so
# the task A head keeps working on the same features.
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
VESSEL_DIM = 8
TIDE_DIM = 12
HIDDEN = 32
N_CLASSES = 4

TOWER_ATTRS = ("tower",)


class Tower(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.l1 = nn.Linear(d_in, 64)
        self.l2 = nn.Linear(64, d_out)

    def __call__(self, x):
        return nn.gelu(self.l2(nn.gelu(self.l1(x))))


class TideCore(nn.Module):
    def __init__(self):
        super().__init__()
        self.tower = Tower(TIDE_DIM, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN, affine=False)

    def __call__(self, xt):
        return self.norm(self.tower(xt))


class DockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.tower = Tower(VESSEL_DIM, HIDDEN)
        self.core = TideCore()
        self.head_a = nn.Linear(2 * HIDDEN, N_CLASSES)
        self.head_b = nn.Linear(2 * HIDDEN, N_CLASSES)

    def features(self, xv, xt):
        return mx.concatenate([self.tower(xv), self.core(xt)], axis=-1)

    def __call__(self, xv, xt, task):
        h = self.features(xv, xt)
        return self.head_a(h) if task == "a" else self.head_b(h)


def freeze_towers(model):
    frozen = []
    for attr in TOWER_ATTRS:
        for owner in (model, getattr(model, "core", None)):
            module = getattr(owner, attr, None) if owner is not None else None
            if module is None or not hasattr(module, "freeze"):
                continue
            module.freeze(recurse=True)
            frozen.append(attr)
            break
    return frozen


def make_data(rng, n):
    xv = rng.normal(size=(n, VESSEL_DIM)).astype(np.float32)
    xt = rng.normal(size=(n, TIDE_DIM)).astype(np.float32)
    # task A: congestion class from tide swell and vessel draft
    sa = np.tanh(xt[:, 0] * xt[:, 1]) + 0.8 * xt[:, 2] + 0.3 * xv[:, 0]
    ta = np.sin(xt[:, 3] + xt[:, 4]) + 0.5 * xt[:, 5] * xt[:, 0]
    ya = (sa > 0).astype(np.int32) * 2 + (ta > 0).astype(np.int32)
    # task B: crane-queue class from the same tide signals, other cut points
    sb = ta - 0.4
    tb = sa + 0.6 * xt[:, 2] - 0.5
    yb = (sb > 0).astype(np.int32) * 2 + (tb > 0).astype(np.int32)
    return [mx.array(a) for a in (xv, xt, ya, yb)]


def count_trainable(model):
    from mlx.utils import tree_flatten
    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))


def accuracy(model, xv, xt, y, task):
    logits = model(xv, xt, task)
    return mx.mean(mx.argmax(logits, axis=-1) == y).item()


def train_stage(model, task, data, val, steps, lr, label):
    xv, xt, ya, yb = data
    y = ya if task == "a" else yb
    opt = optim.Adam(learning_rate=lr)

    def loss_fn(m, bv, bt, by):
        return nn.losses.cross_entropy(m(bv, bt, task), by, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(SEED + (1 if task == "a" else 2))
    n = xv.shape[0]
    vxv, vxt, vya, vyb = val
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, size=128))
        loss, grads = step_fn(model, xv[idx], xt[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 100 == 0 or step == 1:
            line = f"[{label}] step {step:4d} loss {loss.item():.4f}"
            if task == "b":
                line += (f" | val_b acc {accuracy(model, vxv, vxt, vyb, 'b'):.3f}"
                         f" | task_a retained acc {accuracy(model, vxv, vxt, vya, 'a'):.3f}")
            else:
                line += f" | val_a acc {accuracy(model, vxv, vxt, vya, 'a'):.3f}"
            print(line, flush=True)


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    train = make_data(rng, 6000)
    val = make_data(rng, 1500)
    model = DockNet()
    mx.eval(model.parameters())

    print(f"stage 1: congestion classes, trainable params {count_trainable(model)}")
    model.head_b.freeze()
    train_stage(model, "a", train, val, steps=800, lr=3e-3, label="stage1")
    acc_a_before = accuracy(model, val[0], val[1], val[2], "a")
    print(f"stage 1 done: val_a acc {acc_a_before:.3f}")

    # stage 2: new head for crane queues, feature towers and the old head held
    model.unfreeze()
    frozen = freeze_towers(model)
    model.head_a.freeze()
    print(f"stage 2: frozen modules {frozen}, trainable params {count_trainable(model)}")
    train_stage(model, "b", train, val, steps=600, lr=2e-2, label="stage2")

    acc_a_after = accuracy(model, val[0], val[1], val[2], "a")
    acc_b = accuracy(model, val[0], val[1], val[3], "b")
    print(f"final: val_b acc {acc_b:.3f} | task_a acc before stage 2 {acc_a_before:.3f}"
          f" after {acc_a_after:.3f} (change {acc_a_after - acc_a_before:+.3f})")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
