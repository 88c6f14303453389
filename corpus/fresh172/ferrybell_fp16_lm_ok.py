# Tiny fp16 token LM (tied embeddings) on a synthetic harbour-bell "ferry log" Markov stream.
# Training loop modelled on a small-LM trainer: grad accumulation, global-norm clipping,
# AdamW with warmup/cosine, non-finite guard, step logging.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.nn import losses
from mlx.utils import tree_flatten, tree_map

VOCAB = 256
D_MODEL = 32
SEQ = 1024
BATCH = 12
GRAD_ACCUM = 1
MAX_STEPS = 24
LR = 3e-3
GRAD_CLIP = 1.0
DTYPE = mx.float16

rng = np.random.default_rng(7)
# each token has 4 likely successors -> achievable CE about ln(4)+noise
succ = rng.integers(0, VOCAB, size=(VOCAB, 4))


def sample_batch(step, micro):
    r = np.random.default_rng(1000 * step + micro)
    x = np.empty((BATCH, SEQ + 1), dtype=np.int32)
    x[:, 0] = r.integers(0, VOCAB, size=BATCH)
    choice = r.integers(0, 4, size=(BATCH, SEQ))
    noise = r.random((BATCH, SEQ)) < 0.05
    rand_tok = r.integers(0, VOCAB, size=(BATCH, SEQ))
    for t in range(SEQ):
        nxt = succ[x[:, t], choice[:, t]]
        x[:, t + 1] = np.where(noise[:, t], rand_tok[:, t], nxt)
    return mx.array(x[:, :-1]), mx.array(x[:, 1:])


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D_MODEL)
        self.norm1 = nn.RMSNorm(D_MODEL)
        self.up = nn.Linear(D_MODEL, 4 * D_MODEL)
        self.down = nn.Linear(4 * D_MODEL, D_MODEL)
        self.norm = nn.RMSNorm(D_MODEL)
        self.output_bias = mx.zeros((VOCAB,))

    def __call__(self, input_ids, targets=None, ignore_index=-100):
        x = self.embed(input_ids)
        x = x + self.down(nn.gelu(self.up(self.norm1(x))))
        x = self.norm(x)
        logits = mx.matmul(x, self.embed.weight.transpose(1, 0)) + self.output_bias
        out = {"logits": logits}
        if targets is None:
            return out
        # Keep CE math in fp32 for stability when model weights/logits are fp16.
        per_token = losses.cross_entropy(logits.astype(mx.float32), targets, reduction="none")
        if ignore_index >= 0:
            mask = (targets != ignore_index).astype(per_token.dtype)
            loss = (per_token * mask).sum() / (mask.sum() + 1e-6)
        else:
            loss = per_token.mean()
        out["loss"] = loss
        return out


def grad_norm(tree):
    sq = mx.array(0.0, dtype=mx.float32)
    for _, g in tree_flatten(tree):
        g = g.astype(mx.float32)
        sq = sq + (g * g).sum()
    n = mx.sqrt(sq + 1e-12)
    mx.eval(n)
    return float(n.item())


def lr_for_step(step, warmup=5):
    if step < warmup:
        return LR * (step + 1) / warmup
    p = (step - warmup) / max(1, MAX_STEPS - warmup)
    return LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


mx.random.seed(1337)
model = TinyLM()
model.update(tree_map(lambda p: p.astype(DTYPE), model.parameters()))
mx.eval(model.parameters())
nparams = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"[model] params={nparams/1e3:.1f}K dtype=float16 tokens/step={BATCH*SEQ*GRAD_ACCUM}", flush=True)

optimizer = optim.AdamW(LR, weight_decay=0.0, eps=1e-4)


def loss_fn(x, y):
    return model(x, targets=y)["loss"]


step_and_grad = nn.value_and_grad(model, loss_fn)
ema = None
t_loop = time.perf_counter()
for step in range(MAX_STEPS):
    t0 = time.perf_counter()
    total = 0.0
    acc = None
    for micro in range(GRAD_ACCUM):
        x, y = sample_batch(step, micro)
        loss, grads = step_and_grad(x, y)
        mx.eval(loss, grads)
        total += float(loss.item())
        acc = grads if acc is None else tree_map(lambda a, b: a + b, acc, grads)
    acc = tree_map(lambda g: g / GRAD_ACCUM, acc)
    gn = grad_norm(acc)
    if gn > GRAD_CLIP:
        acc = tree_map(lambda g: g * (GRAD_CLIP / (gn + 1e-6)), acc)
    optimizer.learning_rate = lr_for_step(step)
    optimizer.update(model, acc)
    mx.eval(model.parameters(), optimizer.state)

    step_loss = total / GRAD_ACCUM
    if not math.isfinite(step_loss) or not math.isfinite(gn):
        raise FloatingPointError(
            f"Non-finite at step {step+1}: loss={step_loss}, grad_norm={gn}. "
            "Try --dtype bfloat16 and/or lower --lr."
        )
    ema = step_loss if ema is None else 0.9 * ema + 0.1 * step_loss
    dt = time.perf_counter() - t0
    if step == 0 or (step + 1) % 3 == 0:
        print(f"[step {step+1:4d}] loss={step_loss:.4f} ema={ema:.4f} gnorm={gn:.3f} "
              f"lr={lr_for_step(step):.2e} tok/s={BATCH*SEQ*GRAD_ACCUM/dt:,.0f}", flush=True)

print(f"[done] steps={MAX_STEPS} final_loss={step_loss:.4f} ema={ema:.4f} "
      f"ref_uniform={math.log(VOCAB):.3f} ref_markov~{math.log(4):.3f} "
      f"wall={time.perf_counter()-t_loop:.1f}s", flush=True)
