"""Fine-tune a tiny next-token model on prompt -> completion pairs.

Prompt tokens are masked out of the loss (label -100) so only the completion
is trained.  Examples are bucketed by length (sorted, then chunked into
batches, batch order shuffled each epoch) to keep padding small.
"""
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(5)
mx.random.seed(5)

VOCAB = 40
MAX_LEN = 24
PAD = 0
IGNORE = -100


def make_example():
    # prompt: random tokens from 1..19, completion: the prompt reversed, shifted to 20..39
    # a few users paste very long prompts
    plen = random.randint(3, 20) if random.random() < 0.95 else random.randint(26, 34)
    prompt = [random.randint(1, 19) for _ in range(plen)]
    completion = [t + 19 for t in reversed(prompt)][:6]
    return prompt, completion


def encode(prompt, completion):
    ids = (prompt + completion)[:MAX_LEN + 1]
    inp = ids[:-1]
    labels = [IGNORE] * (len(prompt) - 1) + completion
    labels = labels[:len(inp)]
    pad = MAX_LEN - len(inp)
    return inp + [PAD] * pad, labels + [IGNORE] * pad


pairs = [make_example() for _ in range(480)]
pairs.sort(key=lambda pc: len(pc[0]))  # length bucketing
data = [encode(p, c) for p, c in pairs]
BATCH = 12
batches = [data[i:i + BATCH] for i in range(0, len(data), BATCH)]


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=48):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(MAX_LEN, dim)
        self.mix = nn.Linear(2 * dim, dim)
        self.out = nn.Linear(dim, vocab)

    def __call__(self, x):
        h = self.emb(x) + self.pos(mx.arange(x.shape[1]))
        # cheap "context": running mean of previous positions
        csum = mx.cumsum(h, axis=1) / mx.arange(1, x.shape[1] + 1)[None, :, None]
        h = nn.gelu(self.mix(mx.concatenate([h, csum], axis=-1)))
        return self.out(h)


def masked_nll(model, x, y):
    logits = model(x)
    mask = (y != IGNORE)
    safe_y = mx.where(mask, y, 0)
    ce = nn.losses.cross_entropy(logits, safe_y, reduction="none")
    mask = mask.astype(mx.float32)
    # batches whose completions were all truncated away have no target tokens
    return (ce * mask).sum() / mx.maximum(mask.sum(), 1.0)


model = TinyLM(VOCAB)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, masked_nll)

EPOCHS = 6
for epoch in range(1, EPOCHS + 1):
    order = list(range(len(batches)))
    random.shuffle(order)
    running = 0.0
    for k, bi in enumerate(order, 1):
        b = batches[bi]
        x = mx.array([ex[0] for ex in b])
        y = mx.array([ex[1] for ex in b])
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        if k % 10 == 0:
            print(f"epoch {epoch} [{k}/{len(order)}] nll={running / 10:.4f}")
            running = 0.0
print("finished")
