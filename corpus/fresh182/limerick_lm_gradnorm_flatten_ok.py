# tiny char-level pretraining on synthetic limericks, grad accumulation, AdamW,
# linear warmup then cosine, loss/lr/grad-norm logged every 10 optimizer steps
import math
import random
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

random.seed(3)
np.random.seed(3)
mx.random.seed(3)

NAMES = ["nell", "bart", "lou", "kit", "mae", "ned", "tess", "rob"]
PLACES = ["kent", "crewe", "rye", "hull", "bath", "leeds", "wick", "ayr"]
ENDS = ["went", "flew", "high", "full", "path", "needs", "quick", "fair"]


def limerick():
    i = random.randrange(8)
    j = random.randrange(8)
    return f"a {NAMES[j]} from {PLACES[i]} once {ENDS[i]}. "


text = "".join(limerick() for _ in range(3000))
vocab = sorted(set(text))
stoi = {c: k for k, c in enumerate(vocab)}
data = np.array([stoi[c] for c in text], dtype=np.int32)
V = len(vocab)
CTX = 24
LOCAL_BS = 16
ACCUM_STEPS = 2
MAX_IT = 240
MAX_LR, MIN_LR, WARM = 3e-3, 3e-4, 20
GRAD_CLIP = 1.0


def batches():
    while True:
        idx = np.random.randint(0, len(data) - CTX - 1, size=LOCAL_BS)
        yield mx.array(np.stack([data[k:k + CTX + 1] for k in idx]))


class TinyLM(nn.Module):
    def __init__(self, v, d=64, ctx=CTX):
        super().__init__()
        self.tok = nn.Embedding(v, d)
        self.pos = nn.Embedding(ctx, d)
        self.block = nn.TransformerEncoderLayer(d, 4, 4 * d, norm_first=True)
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, v)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.block(h, mask)
        return self.head(self.ln(h))


def cosine_lr(step):
    if step < WARM:
        return MAX_LR * step / WARM
    p = (step - WARM) / max(1, MAX_IT - WARM)
    return MIN_LR + 0.5 * (MAX_LR - MIN_LR) * (1 + math.cos(math.pi * p))


def clip_global(grads, max_norm):
    flat = []
    tree_map(lambda g: flat.append(g) if isinstance(g, mx.array) else None, grads)
    total = mx.sqrt(sum((g * g).sum() for g in flat))
    scale = mx.minimum(1.0, max_norm / (total + 1e-6))
    return tree_map(lambda g: g * scale if isinstance(g, mx.array) else g, grads)


model = TinyLM(V)
mx.eval(model.parameters())
opt = optim.AdamW(MAX_LR, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01)


def loss_fn(m, batch):
    x, y = batch[:, :-1], batch[:, 1:]
    logits = m(x)
    ce = nn.losses.cross_entropy(logits.reshape(-1, V), y.reshape(-1), reduction="none")
    return ce.mean()


value_and_grad = nn.value_and_grad(model, loss_fn)
train_it = batches()
print(f"vocab={V} ctx={CTX} local_bs={LOCAL_BS} accum={ACCUM_STEPS} steps={MAX_IT}", flush=True)

acc_l = acc_s = 0
accum_grads = None
micro_step = 0
for global_step in range(1, MAX_IT + 1):
    opt.learning_rate = cosine_lr(global_step)
    loss, grads = value_and_grad(model, next(train_it))
    mx.eval(loss, grads)
    grads = tree_map(lambda g: g / ACCUM_STEPS if isinstance(g, mx.array) else g, grads)
    accum_grads = grads if accum_grads is None else tree_map(
        lambda a, g: a + g if isinstance(a, mx.array) else a, accum_grads, grads)
    micro_step += 1

    if micro_step == ACCUM_STEPS:
        clipped = clip_global(accum_grads, GRAD_CLIP)
        opt.update(model, clipped)
        mx.eval(model.parameters(), opt.state)
        accum_grads = None
        micro_step = 0

        acc_l += float(loss)
        acc_s += 1
        if global_step % 10 == 0:
            avg_loss = acc_l / acc_s
            print(f"[{global_step}/{MAX_IT}] loss={avg_loss:.3f} ppl={math.exp(avg_loss):.2f} "
                  f"lr={opt.learning_rate.item():.2e}", flush=True)
            # gather all gradient arrays into a flat list
            grad_arrays = []

            def _collect(x):
                if isinstance(x, mx.array):
                    grad_arrays.append(x)
                return x

            tree_map(_collect, grads)
            grad_norm = math.sqrt(sum(float((g ** 2).sum()) for g in grad_arrays))
            print(f"    grad_norm={grad_norm:.4f}", flush=True)
            acc_l = acc_s = 0

print("done", flush=True)
