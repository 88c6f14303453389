# Tiny SFT-style LoRA fine-tune with gradient accumulation and a compiled step,
# modelled on mlx_lm_lora.trainer.sft_trainer.train_sft.
from functools import partial
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn.utils import average_gradients
from mlx.utils import tree_flatten, tree_map

mx.random.seed(0)
VOCAB, DIM, SEQ, BATCH = 32, 64, 24, 8


class LoRALinear(nn.Module):
    def __init__(self, din, dout, r=16, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(din, dout)
        self.lora_a = mx.random.uniform(-1 / math.sqrt(din), 1 / math.sqrt(din), (din, r))
        self.lora_b = mx.zeros((r, dout))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.mix = LoRALinear(2 * DIM, DIM)
        self.head = LoRALinear(DIM, VOCAB)

    def __call__(self, x):
        h = self.embed(x)
        prev = mx.concatenate([mx.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
        h = nn.gelu(self.mix(mx.concatenate([h, prev], axis=-1)))
        return self.head(h)


def make_batch():
    # rule: next = (cur + prev + 5) mod VOCAB
    a = mx.random.randint(0, VOCAB, (BATCH, 2))
    seq = [a[:, 0], a[:, 1]]
    for _ in range(SEQ - 1):
        seq.append((seq[-1] + seq[-2] + 5) % VOCAB)
    s = mx.stack(seq, axis=1)
    return s[:, :-1], s[:, 1:]


def loss(model, inputs, targets):
    logits = model(inputs)
    ce = nn.losses.cross_entropy(logits, targets)
    ntoks = mx.array(targets.size)
    return ce.sum() / ntoks, ntoks


model = TinyLM()
model.freeze()
model.unfreeze(keys=["lora_a", "lora_b"], strict=False)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"Trainable parameters: {n_train} ({100 * n_train / sum(v.size for _, v in tree_flatten(model.parameters())):.3f}%)")

optimizer = optim.Adam(learning_rate=1e-2)
iters = 400
grad_accum_steps = 4
steps_per_report = 40

loss_value_and_grad = nn.value_and_grad(model, loss)

state = [model.state, optimizer.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(batch, prev_grad, do_update):
    (lvalue, toks), grad = loss_value_and_grad(model, *batch)

    if prev_grad is not None:
        grad = tree_map(lambda x, y: x + y, grad, prev_grad)

    if do_update:
        grad = average_gradients(grad)
        if grad_accum_steps > 1:
            grad = tree_map(lambda x: x / grad_accum_steps, grad)
        optimizer.update(model, grad)
        grad = None

    return lvalue, toks, grad


model.train()
losses = 0
n_tokens = 0
steps = 0
grad_accum = None
tic = time.perf_counter()
print("Starting training..., iters:", iters)
for it in range(1, iters + 1):
    batch = make_batch()
    lvalue, toks, grad_accum = step(
        batch,
        grad_accum,
        it % grad_accum_steps == 0,
    )
    losses += lvalue
    n_tokens += toks
    steps += 1
    mx.eval(state, losses, n_tokens, grad_accum)

    if it % steps_per_report == 0 or it == iters:
        train_loss = losses.item() / steps
        el = time.perf_counter() - tic
        print(
            f"Iter {it}: Train loss {train_loss:.3f}, Learning Rate {optimizer.learning_rate.item():.3e}, "
            f"It/sec {steps / el:.3f}, Tokens/sec {n_tokens.item() / el:.3f}, "
            f"Peak mem {mx.get_peak_memory() / 1e9:.3f} GB"
        )
        losses, n_tokens, steps = 0, 0, 0
        tic = time.perf_counter()

print("Done.")
