"""Colony state from hive-scale weight traces: random-crop windows for training,
centre windows for evaluation; mid-run checkpoint and resume."""
import tempfile
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

STATES = ["steady", "nectar_flow", "swarm", "robbing"]
L, W = 96, 48


def make_traces(n, rng):
    y = rng.integers(0, 4, n)
    t = np.arange(L, dtype=np.float32)
    x = np.zeros((n, L), np.float32)
    for i, c in enumerate(y):
        base = 30 + rng.normal(0, 1) + 0.3 * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 6))
        if c == 1:
            base += 0.04 * t
        elif c == 2:
            k = rng.integers(20, 76)
            base[k:] -= 1.5
        elif c == 3:
            base -= 0.03 * t + 0.4 * (np.sin(2 * np.pi * t / 6) > 0.8)
        x[i] = base + rng.normal(0, 0.15, L)
    x = x - x.mean(axis=1, keepdims=True)
    return x[..., None], y


def random_windows(x, rng, scale_sd):
    n = x.shape[0]
    starts = rng.integers(0, L - W + 1, n)
    out = np.stack([x[i, s:s + W] for i, s in enumerate(starts)])
    out = out * rng.normal(1.0, scale_sd, (n, 1, 1)).astype(np.float32)
    return out - out.mean(axis=1, keepdims=True)


def centre(x):
    s = (L - W) // 2
    w = x[:, s:s + W]
    return w - w.mean(axis=1, keepdims=True)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5, padding=2)
        self.c2 = nn.Conv1d(16, 32, 5, padding=2)
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.MaxPool1d(2)(h)
        h = nn.relu(self.c2(h))
        return self.head(mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def evaluate(m, x, y):
    logits = m(mx.array(x))
    loss = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    acc = (mx.argmax(logits, axis=1) == mx.array(y)).mean().item()
    return loss, acc


def build(total_steps, lr_peak=3e-3):
    warm = optim.linear_schedule(0.0, lr_peak, 30)
    decay = optim.cosine_decay(lr_peak, total_steps - 30, 1e-4)
    return optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [30]), weight_decay=1e-3)


def run_epochs(model, opt, xtr, ytr, rng, epochs, start, scale_sd, xva, yva, bs=32):
    step = nn.value_and_grad(model, loss_fn)
    for ep in range(start, start + epochs):
        perm = rng.permutation(len(ytr))
        tot = 0.0
        for b in range(0, len(perm), bs):
            idx = perm[b:b + bs]
            xb = mx.array(random_windows(xtr[idx], rng, scale_sd))
            loss, g = step(model, xb, mx.array(ytr[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item() * len(idx)
        vl, va = evaluate(model, xva, yva)
        print(f"epoch {ep:2d} | aug scale sd {scale_sd:.2f} | train xent {tot / len(ytr):.3f} "
              f"| val xent {vl:.3f} | val acc {va:.3f} | lr {opt.learning_rate.item():.2e}")


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ytr = make_traces(640, rng)
    xva, yva = make_traces(256, rng)
    xva_c = centre(xva)
    counts = np.bincount(ytr, minlength=4)
    print("train counts:", dict(zip(STATES, counts.tolist())))
    print(f"baseline: majority-class val acc {np.mean(yva == np.argmax(counts)):.3f}, "
          f"uniform xent {np.log(4):.3f}")
    epochs_a, epochs_b, bs = 6, 6, 32
    steps = (epochs_a + epochs_b) * ((len(ytr) + bs - 1) // bs)
    model = Net()
    mx.eval(model.parameters())
    opt = build(steps)
    vl, va = evaluate(model, xva_c, yva)
    print(f"before training | val xent {vl:.3f} | val acc {va:.3f} | lr at step 0 = 0")

    print("-- stage A: crop windows, mild amplitude scaling")
    run_epochs(model, opt, xtr, ytr, rng, epochs_a, 1, 0.05, xva_c, yva, bs)

    ckpt = Path(tempfile.mkdtemp()) / "hive_ckpt"
    mx.save_safetensors(str(ckpt) + ".model.safetensors", dict(tree_flatten(model.parameters())))
    mx.save_safetensors(str(ckpt) + ".opt.safetensors", dict(tree_flatten(opt.state)))
    print(f"checkpoint written after epoch {epochs_a}; rebuilding from disk")

    model2 = Net()
    model2.update(tree_unflatten(list(mx.load(str(ckpt) + ".model.safetensors").items())))
    opt2 = build(steps)
    opt2.state = tree_unflatten(list(mx.load(str(ckpt) + ".opt.safetensors").items()))
    mx.eval(model2.parameters())
    vl2, va2 = evaluate(model2, xva_c, yva)
    print(f"resumed model   | val xent {vl2:.3f} | val acc {va2:.3f} | step {opt2.step.item()}")

    print("-- stage B: crop windows, strong amplitude scaling (train xent expected higher)")
    run_epochs(model2, opt2, xtr, ytr, rng, epochs_b, epochs_a + 1, 0.35, xva_c, yva, bs)
    vl, va = evaluate(model2, xva_c, yva)
    print(f"final | val xent {vl:.3f} | val acc {va:.3f} | majority baseline "
          f"{np.mean(yva == np.argmax(counts)):.3f}")


if __name__ == "__main__":
    main()
