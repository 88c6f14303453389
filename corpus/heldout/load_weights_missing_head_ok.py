"""Fine-tune a small pretrained LM checkpoint (tied input/output embeddings) on new text.

Phase 1 stands in for the download: it pretrains a tiny LM and saves the
checkpoint with its config, as a hub model would ship it. Phase 2 is the
fine-tune script proper.
"""
import json
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, DIM = 48, 32


class TinyLM(nn.Module):
    def __init__(self, vocab, dim, tie_word_embeddings):
        super().__init__()
        self.tie = tie_word_embeddings
        self.embed = nn.Embedding(vocab, dim)
        self.body = nn.Linear(dim, dim)
        if not tie_word_embeddings:
            self.lm_head = nn.Linear(dim, vocab, bias=False)

    def __call__(self, ids):
        h = nn.gelu(self.body(self.embed(ids)))
        return self.embed.as_linear(h) if self.tie else self.lm_head(h)


def batches(shift, n, size=64):
    for _ in range(n):
        x = mx.random.randint(0, VOCAB, (size,))
        yield x, (x * 5 + shift) % VOCAB


def train(model, shift, iters, lr, tag):
    opt = optim.AdamW(learning_rate=lr)
    step = nn.value_and_grad(
        model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
    for it, (x, y) in enumerate(batches(shift, iters), start=1):
        loss, grads = step(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 50 == 0:
            print(f"[{tag}] Iter {it}: Train loss {loss.item():.3f}")


mx.random.seed(6)
workdir = tempfile.mkdtemp()

# phase 1: the "hub" checkpoint
config = {"vocab_size": VOCAB, "hidden_size": DIM, "tie_word_embeddings": True}
base = TinyLM(VOCAB, DIM, config["tie_word_embeddings"])
train(base, shift=1, iters=200, lr=2e-3, tag="pretrain")
base.save_weights(os.path.join(workdir, "model.safetensors"))
with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(config, f)

# phase 2: fine-tune
with open(os.path.join(workdir, "config.json")) as f:
    cfg = json.load(f)
model = TinyLM(cfg["vocab_size"], cfg["hidden_size"], cfg["tie_word_embeddings"])
model.load_weights(os.path.join(workdir, "model.safetensors"))
print("loaded pretrained weights")
train(model, shift=2, iters=300, lr=1e-3, tag="finetune")
