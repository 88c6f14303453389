"""ARC-style 'falling blocks' grids solved by a tiny recursive model.

Each 5x5 grid holds coloured blocks (3 colours) floating in the air; the answer
grid lets every block fall straight down in its column, keeping the colour order.
A weight-tied core network refines a latent z and an answer state y over a few
inner steps; training uses deep supervision (3 segments per batch, state carried
across segments without gradient, one optimizer step per segment) and a halting
head trained to predict whether the current answer is fully right. Evaluation
uses an exponential moving average of the weights and halts adaptively.
"""

import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

H = W = 5
COLOURS = 4          # 0 = empty, 1..3 = block colours
CELLS = H * W
SEGMENTS = 3         # deep-supervision segments per batch
INNER = 2            # latent refinement steps per segment
DIM = 64

rng = np.random.default_rng(361)
mx.random.seed(361)


def make_grids(n, fill):
    g = np.zeros((n, H, W), dtype=np.int32)
    occ = rng.random((n, H, W)) < fill
    g[occ] = rng.integers(1, COLOURS, size=occ.sum())
    out = np.zeros_like(g)
    for c in range(W):
        col = g[:, :, c]
        for i in range(n):
            blocks = col[i][col[i] > 0]
            if len(blocks):
                out[i, H - len(blocks):, c] = blocks
    return g.reshape(n, CELLS), out.reshape(n, CELLS)


x_train, y_train = make_grids(8000, 0.3)
x_test, y_test = make_grids(1000, 0.3)
x_train, y_train = mx.array(x_train), mx.array(y_train)
x_test, y_test = mx.array(x_test), mx.array(y_test)


class Core(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)

    def __call__(self, h):
        return h + self.fc2(nn.gelu(self.fc1(self.norm(h))))


class TinyRecursive(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.cell_embed = nn.Embedding(COLOURS, 8)
        self.inp = nn.Linear(CELLS * 8, dim)
        self.core = Core(dim)
        self.out_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, CELLS * COLOURS)
        self.halt = nn.Linear(dim, 1)

    def encode(self, x):
        return self.inp(self.cell_embed(x).reshape(x.shape[0], -1))

    def segment(self, xe, y, z):
        for _ in range(INNER):
            z = self.core(xe + y + z)
        y = self.core(y + z)
        h = self.out_norm(y)
        logits = self.head(h).reshape(-1, CELLS, COLOURS)
        q = self.halt(h).squeeze(-1)
        return y, z, logits, q

    def init_state(self, n):
        return mx.zeros((n, DIM)), mx.zeros((n, DIM))


def segment_loss(model, x, target, y, z):
    xe = model.encode(x)
    y, z, logits, q = model.segment(xe, y, z)
    ce = nn.losses.cross_entropy(logits, target).mean()
    solved = mx.all(mx.argmax(logits, axis=-1) == target, axis=-1).astype(mx.float32)
    halt_bce = nn.losses.binary_cross_entropy(q, mx.stop_gradient(solved), with_logits=True).mean()
    return ce + 0.5 * halt_bce, (ce, halt_bce, y, z)


model = TinyRecursive(DIM)
ema_model = TinyRecursive(DIM)
mx.eval(model.parameters())
ema_params = tree_map(lambda p: p, model.parameters())
ema_model.update(ema_params)

steps = 500
warm = 60
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps * SEGMENTS - warm, 1e-4)],
    [warm])
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01, betas=[0.9, 0.95])
loss_and_grad = nn.value_and_grad(model, segment_loss)
EMA_DECAY = 0.99

print(f"grids: train {x_train.shape[0]}, test {x_test.shape[0]}, {H}x{W}, {COLOURS - 1} colours")
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"params: {n_params}, segments {SEGMENTS}, inner steps {INNER}")
copy_acc = (x_test == y_test).astype(mx.float32).mean().item()
print(f"baseline 'answer = input': cell acc {100 * copy_acc:.1f}%, grids solved "
      f"{100 * mx.all(x_test == y_test, axis=-1).astype(mx.float32).mean().item():.1f}%")


def evaluate(m, x, target, max_segments=SEGMENTS, threshold=0.0):
    xe = m.encode(x)
    y, z = m.init_state(x.shape[0])
    done = mx.zeros((x.shape[0],), dtype=mx.bool_)
    pred = mx.zeros(target.shape, dtype=mx.int32)
    used = mx.zeros((x.shape[0],), dtype=mx.float32)
    for s in range(max_segments):
        y, z, logits, q = m.segment(xe, y, z)
        p = mx.argmax(logits, axis=-1)
        pred = mx.where(done[:, None], pred, p)
        used = used + (~done).astype(mx.float32)
        done = done | (q > threshold)
    cell = (pred == target).astype(mx.float32).mean()
    solved = mx.all(pred == target, axis=-1).astype(mx.float32).mean()
    mx.eval(cell, solved, used)
    return 100 * cell.item(), 100 * solved.item(), used.mean().item()


# first segment, gradient audit before any update
y, z = model.init_state(8)
(_, _), g = loss_and_grad(model, x_train[:8], y_train[:8], y, z)
zero = [k for k, v in tree_flatten(g) if mx.all(v == 0).item()]
print(f"gradient check: {len(tree_flatten(g))} leaves, all-zero leaves: {zero if zero else 'none'}")

cell, solved, used = evaluate(ema_model, x_test, y_test)
print(f"untrained (ema): cell acc {cell:.1f}%, solved {solved:.1f}%, segments used {used:.2f}")
print("step | lr(seg1) | ce seg1  ce last  | halt bce | test(ema) cell%  solved%  segs | secs")

bs = 64
t0 = time.time()
perm = np.random.default_rng(1).permutation(x_train.shape[0])
cursor = 0
for step in range(1, steps + 1):
    if cursor + bs > len(perm):
        perm = np.random.default_rng(step).permutation(x_train.shape[0])
        cursor = 0
    idx = mx.array(perm[cursor:cursor + bs])
    cursor += bs
    xb, yb = x_train[idx], y_train[idx]
    y, z = model.init_state(bs)
    seg_ce = []
    lr_first = opt.learning_rate.item()
    for s in range(SEGMENTS):
        (loss, (ce, hb, y, z)), grads = loss_and_grad(model, xb, yb, y, z)
        y, z = mx.stop_gradient(y), mx.stop_gradient(z)
        opt.update(model, grads)
        ema_params = tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p, ema_params, model.parameters())
        mx.eval(model.parameters(), opt.state, ema_params, y, z, ce, hb)
        seg_ce.append(ce.item())
    if step == 1 or step % 50 == 0:
        ema_model.update(ema_params)
        cell, solved, used = evaluate(ema_model, x_test, y_test)
        print(f"{step:4d} | {lr_first:.2e} | {seg_ce[0]:.4f}  {seg_ce[-1]:.4f}  | {hb.item():.4f}   | "
              f"{cell:6.2f}  {solved:6.2f}  {used:4.2f} | {time.time() - t0:5.1f}")

ema_model.update(ema_params)
cell, solved, used = evaluate(ema_model, x_test, y_test)
full = evaluate(ema_model, x_test, y_test, threshold=1e9)
print(f"done: ema weights, adaptive halting: cell {cell:.2f}%, solved {solved:.2f}%, mean segments {used:.2f}")
print(f"      ema weights, always {SEGMENTS} segments: cell {full[0]:.2f}%, solved {full[1]:.2f}%")
