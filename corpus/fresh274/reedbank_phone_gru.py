"""Frame-level phone tagging with a GRU on synthetic filterbank frames.
Warmup from lr 0, cosine restart, checkpoint at the stage switch and resume from it."""
import os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PHONES, MELS, T = 5, 10, 24
rng = np.random.default_rng(1)
centers = rng.normal(size=(PHONES, MELS)).astype(np.float32) * 1.5


def utterances(n):
    seg = rng.integers(0, PHONES, (n, T // 4)).repeat(4, axis=1)
    x = centers[seg] + rng.normal(size=(n, T, MELS)).astype(np.float32)
    return mx.array(x), mx.array(seg)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(MELS, 32)
        self.out = nn.Linear(32, PHONES)

    def __call__(self, x):
        return self.out(self.rnn(x))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y).mean()


def run(model, sched, steps, start, xv, yv, tag):
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)
    for it in range(start, start + steps):
        x, y = utterances(16)
        loss, g = vg(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if (it - start) % 10 == 0:
            acc = (model(xv).argmax(-1) == yv).mean().item()
            print(f"[{tag}] step {it:3d} lr {opt.learning_rate.item():.5f} loss {loss.item():.4f} frame_acc {acc:.3f}")


mx.random.seed(1)
xv, yv = utterances(128)
counts = np.bincount(np.array(yv).ravel(), minlength=PHONES)
print(f"majority-phone baseline frame_acc {counts.max() / counts.sum():.3f}")
model = Tagger()
warm = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 10), optim.cosine_decay(3e-3, 30)], [10])
run(model, warm, 40, 0, xv, yv, "stage1")
ckpt = os.path.join(tempfile.mkdtemp(), "tagger.safetensors")
model.save_weights(ckpt)
print(f"saved {len(tree_flatten(model.parameters()))} tensors")
resumed = Tagger()
resumed.load_weights(ckpt)
run(resumed, optim.cosine_decay(1e-3, 40), 40, 40, xv, yv, "stage2")
acc = (resumed(xv).argmax(-1) == yv).mean().item()
print(f"final frame_acc {acc:.3f}")
