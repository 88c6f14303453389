# Tiny GRPO-style RL fine-tune: a toy policy learns to answer "prompt + 1" for
# every generated token. Completions are sampled inside the training step.
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

V, D, MAX_TOKENS, EOS = 12, 48, 6, 0
GROUP, BATCH, STEPS, ACCUM = 8, 4, 600, 2

mx.random.seed(0)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.prompt_emb = nn.Embedding(V, D)
        self.tok_emb = nn.Embedding(V, D)
        self.mlp = nn.Sequential(nn.Linear(D, D), nn.Tanh(), nn.Linear(D, V))

    def __call__(self, prompts, prev):
        return self.mlp(self.prompt_emb(prompts) + self.tok_emb(prev))


def generate(model, prompts, temperature=1.0):
    """Sample up to MAX_TOKENS per row, stop early once every row emitted EOS."""
    prev = mx.full(prompts.shape, EOS, dtype=mx.int32)
    out = []
    done = mx.zeros(prompts.shape, dtype=mx.bool_)
    for _ in range(MAX_TOKENS):
        logits = model(prompts, prev)
        tok = mx.random.categorical(logits / temperature)
        tok = mx.where(done, EOS, tok)
        out.append(tok)
        done = done | (tok == EOS)
        prev = tok
        if done.all().item():
            break
    return mx.stack(out, axis=1)


def reward(prompt_ids, completions):
    rows = []
    for p, comp in zip(prompt_ids.tolist(), completions.tolist()):
        want = (p + 1) % V or 1
        r = sum(1.0 for t in comp if t == want) / MAX_TOKENS
        rows.append(r)
    return mx.array(rows)


def loss_fn(model, prompts, completions, adv):
    B, T = completions.shape
    prev = mx.concatenate([mx.full((B, 1), EOS, dtype=mx.int32), completions[:, :-1]], axis=1)
    logits = model(prompts[:, None], prev)
    logp = nn.log_softmax(logits, axis=-1)
    tok_lp = mx.take_along_axis(logp, completions[..., None], axis=-1).squeeze(-1)
    return -(adv[:, None] * tok_lp).mean()


model = Policy()
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

state = [model.state, optimizer.state, mx.random.state]


def step(prompts, prev_grad, do_update):
    group_prompts = mx.repeat(prompts, GROUP)
    completions = generate(model, group_prompts)
    r = reward(group_prompts, completions)
    rg = r.reshape(-1, GROUP)
    adv = ((rg - rg.mean(axis=1, keepdims=True)) / (rg.std(axis=1, keepdims=True) + 1e-4)).reshape(-1)
    loss, grad = loss_and_grad(model, group_prompts, completions, adv)
    if prev_grad is not None:
        grad = tree_map(lambda a, b: a + b, grad, prev_grad)
    if do_update:
        grad = tree_map(lambda g: g / ACCUM, grad)
        optimizer.update(model, grad)
        grad = None
    return loss, r.mean(), grad


print(f"{'step':>5} | {'loss':>8} | {'reward':>6} | {'s/it':>5}")
print("-" * 34)
grad = None
t0 = time.time()
for it in range(1, STEPS + 1):
    prompts = mx.random.randint(1, V, (BATCH,))
    loss, rmean, grad = step(prompts, grad, it % ACCUM == 0)
    mx.eval(state, loss, rmean)
    if grad is not None:
        mx.eval(grad)
    if it % 30 == 0:
        print(f"{it:>5} | {loss.item():>8.4f} | {rmean.item():>6.3f} | {(time.time()-t0)/it:>5.3f}")
        sys.stdout.flush()
