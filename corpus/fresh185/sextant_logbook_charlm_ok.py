# Tiny char-level LM trained with a one-process mx.distributed group (sml-mlx style loop).
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn import losses
from mlx.utils import tree_map, tree_flatten

group = mx.distributed.init()
rank, size = group.rank(), group.size()
mx.random.seed(3)
rng = np.random.default_rng(3)

TEXT = ("the sextant reads the sun at noon and the log records the knots. " * 40)
chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in TEXT], dtype=np.int32)
VOCAB, CTX, LOCAL_BS = len(chars), 24, 16
MAX_IT, MAX_LR, MIN_LR, WARMUP, CLIP = 300, 3e-3, 3e-4, 20, 1.0

def batches():
    while True:
        idx = rng.integers(0, len(data) - CTX - 1, LOCAL_BS)
        yield mx.array(np.stack([data[i:i + CTX + 1] for i in idx]))

class TinyLM(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(CTX, d)
        self.block = nn.TransformerEncoderLayer(d, 4, 128)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)
    def __call__(self, x):
        T = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.block(h, mask)
        return self.head(self.norm(h))

def cosine_lr(step, base, warmup, total, min_lr):
    if step < warmup:
        return base * step / warmup
    p = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * p))

def clip_global(grads, max_norm):
    flat = [g for _, g in tree_flatten(grads)]
    norm = mx.sqrt(sum((g * g).sum() for g in flat))
    scale = mx.minimum(1.0, max_norm / (norm + 1e-6))
    return tree_map(lambda g: g * scale, grads)

model = TinyLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)

def loss_fn(m, batch):
    x, y = batch[:, :-1], batch[:, 1:]
    logits = m(x)
    ce = losses.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1), reduction="none")
    return ce.mean()

value_and_grad = nn.value_and_grad(model, loss_fn)
train_it = batches()
acc_l = acc_s = 0
for step in range(1, MAX_IT + 1):
    opt.learning_rate = cosine_lr(step, MAX_LR, WARMUP, MAX_IT, MIN_LR)
    loss, grads = value_and_grad(model, next(train_it)); mx.eval(loss, grads)
    grads = clip_global(grads, CLIP)
    opt.update(model, grads); mx.eval(model.parameters(), opt.state)

    acc_l += float(loss)
    acc_s += 1
    if step % 10 == 0:
        avg_local = acc_l / acc_s
        loss_arr = mx.array([avg_local], dtype=mx.float32)
        summed = mx.distributed.all_sum(loss_arr)
        summed_np = np.asarray(summed)
        global_loss = float(summed_np[0]) / size
        if rank == 0:
            print(f"[{step}/{MAX_IT}] global_loss={global_loss:.3f} "
                  f"lr={opt.learning_rate.item():.2e} (batch_sizes={[LOCAL_BS]*size})", flush=True)
        acc_l = acc_s = 0

if rank == 0:
    print("Training complete", flush=True)
