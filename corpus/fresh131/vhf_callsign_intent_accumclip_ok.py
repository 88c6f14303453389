# Marine VHF radio log: classify a transcribed call (token ids) into
# MAYDAY / PAN-PAN / SECURITE / ROUTINE. Trainer in the style of a small
# HF-like tuner: compiled micro-step, gradient accumulation, compiled
# update with global-norm clipping, cosine LR, periodic logging.
from functools import partial
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)
VOCAB, SEQ, NCLS = 48, 14, 4
CLASSES = ["MAYDAY", "PANPAN", "SECURITE", "ROUTINE"]
# tokens 0..7 : class keywords (2 per class), 8..47 : filler words
def make_calls(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    y = mx.random.randint(0, NCLS, (n,), key=k1)
    toks = mx.random.randint(8, VOCAB, (n, SEQ), key=k2)
    kw = 2 * y[:, None] + mx.random.randint(0, 2, (n, 3), key=k3)
    pos = mx.broadcast_to(mx.arange(SEQ)[None], (n, SEQ))
    slot = (pos == 2) | (pos == 6) | (pos == 11)
    kwfull = mx.concatenate([kw[:, :1]] * 3 + [kw[:, 1:2]] * 4 + [kw[:, 2:3]] * 7, axis=1)
    toks = mx.where(slot, kwfull, toks)
    return toks, y

class CallClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32)
        self.mix = nn.Linear(32, 32)
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, NCLS)

    def __call__(self, input_ids, labels):
        h = nn.gelu(self.mix(self.embed(input_ids)))
        h = self.norm(h.mean(axis=1))
        logits = self.head(h)
        return {"logits": logits, "loss": nn.losses.cross_entropy(logits, labels)}

model = CallClassifier()
mx.eval(model.parameters())
total_updates, accum, micro_bs, max_grad_norm = 60, 4, 16, 1.0
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 6), optim.cosine_decay(3e-3, total_updates - 6, 1e-4)], [6])
optimizer = optim.AdamW(learning_rate=sched, weight_decay=0.01)
state = [model.state, optimizer.state]

def loss_fn(model, batch):
    return mx.mean(model(**batch)["loss"])

grad_fn = nn.value_and_grad(model, loss_fn)

@partial(mx.compile, inputs=state, outputs=state)
def step_calc(batch):
    return grad_fn(model, batch)

@partial(mx.compile, inputs=state, outputs=state)
def update_fn(accumulated_grads):
    # Flatten gradients to compute norm
    flattened_grads = tree_flatten(accumulated_grads)
    squares = [mx.sum(mx.square(g)) for _, g in flattened_grads]
    total_norm = mx.sqrt(mx.sum(mx.array(squares)))
    scale = mx.minimum(1.0, max_grad_norm / (total_norm + 1e-6))
    accumulated_grads = tree_map(lambda g: g * scale, accumulated_grads)
    optimizer.update(model, accumulated_grads)
    return total_norm

val_ids, val_y = make_calls(256, mx.random.key(99))
key = mx.random.key(1)
acc_grads, running, n_micro, upd = None, 0.0, 0, 0
t0 = time.perf_counter()
print(f"Training {model.__class__.__name__} | updates={total_updates} accum={accum} micro_bs={micro_bs}")
while upd < total_updates:
    key, sub = mx.random.split(key)
    ids, y = make_calls(micro_bs, sub)
    loss, grads = step_calc({"input_ids": ids, "labels": y})
    grads = tree_map(lambda g: g / accum, grads)
    acc_grads = grads if acc_grads is None else tree_map(mx.add, acc_grads, grads)
    running += loss.item()
    n_micro += 1
    if n_micro % accum == 0:
        gnorm = update_fn(acc_grads)
        mx.eval(model.state, optimizer.state, gnorm)
        acc_grads = None
        upd += 1
        if upd % 10 == 0:
            logits = model(val_ids, val_y)["logits"]
            acc = (mx.argmax(logits, axis=1) == val_y).mean().item()
            print(f"{{'step': {upd}, 'loss': {running / (10 * accum):.4f}, 'grad_norm': {gnorm.item():.3f}, "
                  f"'learning_rate': {optimizer.learning_rate.item():.2e}, 'eval_accuracy': {acc:.3f}}}")
            running = 0.0
print(f"train_runtime={time.perf_counter() - t0:.1f}s")
