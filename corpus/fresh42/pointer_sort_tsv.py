# Learn to sort: a transformer encoder reads 8 numbers, then 8 learned
# "output slot" queries point (attend) at input positions; the target for
# slot i is the index of the i-th smallest input. Cross-entropy over positions.
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N = 8
D = 48
gen = np.random.default_rng(11)


def make_batch(bs):
    x = gen.uniform(0, 1, (bs, N)).astype(np.float32)
    order = np.argsort(x, axis=1).astype(np.int32)
    return mx.array(x), mx.array(order)


class PointerSorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(1, D)
        self.pos = nn.Embedding(N, D)
        self.encoder = nn.TransformerEncoder(num_layers=2, dims=D, num_heads=4, mlp_dims=96)
        self.slots = mx.random.normal((N, D)) * 0.1
        self.q_proj = nn.Linear(D, D)
        self.k_proj = nn.Linear(D, D)

    def __call__(self, x):
        h = self.embed(x[..., None]) + self.pos(mx.arange(N))
        h = self.encoder(h, None)
        q = self.q_proj(self.slots + h.mean(axis=1, keepdims=True))   # (B, N, D)
        k = self.k_proj(h)                                            # (B, N, D)
        return (q @ k.transpose(0, 2, 1)) / (D ** 0.5)                # (B, slots, positions)


def loss_fn(model, x, order):
    logits = model(x)
    return nn.losses.cross_entropy(logits, order, reduction="mean")


mx.random.seed(3)
model = PointerSorter()
mx.eval(model.parameters())
TOTAL = 480
warm = optim.linear_schedule(1e-5, 1e-3, 60)
cos = optim.cosine_decay(1e-3, TOTAL - 60, 1e-5)
opt = optim.AdamW(learning_rate=optim.join_schedules([warm, cos], [60]), weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

x, o = make_batch(64)
_, g0 = vg(model, x, o)
flat = tree_flatten(g0)
dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
sys.stderr.write(f"# grad check: {len(flat)} leaves, zero-grad leaves: {dead}\n")

x_val, o_val = make_batch(500)


def evaluate():
    logits = model(x_val)
    pred = mx.argmax(logits, axis=-1)
    slot_acc = float(mx.mean(pred == o_val))
    seq_acc = float(mx.mean(mx.all(pred == o_val, axis=-1)))
    vloss = float(nn.losses.cross_entropy(logits, o_val, reduction="mean"))
    return vloss, slot_acc, seq_acc


print("\t".join(["step", "lr", "train_ce", "val_ce", "val_slot_acc", "val_perm_acc", "elapsed_s"]))
t0 = time.time()
window = []
for step in range(1, TOTAL + 1):
    x, o = make_batch(64)
    loss, grads = vg(model, x, o)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 40 == 0:
        vl, sa, pa = evaluate()
        lr = float(opt.learning_rate)
        print("\t".join([str(step), f"{lr:.2e}", f"{np.mean(window):.4f}", f"{vl:.4f}", f"{sa:.3f}", f"{pa:.3f}", f"{time.time() - t0:.1f}"]))
        window = []
print(f"# chance slot accuracy = {1 / N:.3f}; chance full-permutation accuracy = 1/{math.factorial(N)}")
