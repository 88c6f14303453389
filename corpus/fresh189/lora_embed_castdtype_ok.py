# LoRA fine-tune of a tiny token model where the adapter sits on the embedding table.
# Base model (embedding + head) is pretrained on "next = tok + 1", then frozen; the
# LoRA embedding adapter is tuned on "next = tok + 3" (a new task).
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, D, R = 64, 32, 8


class LoRAEmbedding(nn.Module):
    def __init__(self, num_embeddings, dims, r=8, dropout=0.0, scale=20.0):
        super().__init__()
        self.embedding = nn.Embedding(num_embeddings, dims)
        self.dropout = nn.Dropout(p=dropout)
        self.scale = scale
        scale = 1 / math.sqrt(num_embeddings)
        self.lora_a = mx.random.uniform(low=-scale, high=scale, shape=(num_embeddings, r))
        self.lora_b = mx.zeros(shape=(r, dims))

    def __call__(self, x):
        x = mx.array(x)
        y = self.embedding(x)
        z = self.dropout(self.lora_a[x] @ self.lora_b)
        out = y + (self.scale * z).astype(y.dtype)
        return out


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.mlp = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, V))

    def __call__(self, x):
        return self.mlp(self.embed(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=-1) == y).astype(mx.float32).mean().item()


mx.random.seed(0)
model = TinyLM()
tokens = mx.arange(V)

# ---- stage 1: pretrain base on tok+1 ----
opt = optim.Adam(learning_rate=1e-2)
step_fn = nn.value_and_grad(model, loss_fn)
for it in range(150):
    x = mx.random.randint(0, V, (128,))
    loss, g = step_fn(model, x, (x + 1) % V)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
print(f"[base] loss={loss.item():.4f} acc(tok+1)={accuracy(model, tokens, (tokens + 1) % V):.3f}")

# ---- stage 2: LoRA on the embedding, everything else frozen ----
lora = LoRAEmbedding(V, D, r=R)
lora.embedding = model.embed
model.embed = lora
model.freeze()
model.embed.unfreeze(keys=["lora_a", "lora_b"], recurse=False)
n_train = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
print(f"[lora] trainable params: {n_train}")

opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.0)
step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for it in range(1, 241):
    x = mx.random.randint(0, V, (128,))
    loss, g = step_fn(model, x, (x + 3) % V)
    opt.update(model, g)
    mx.eval(model.trainable_parameters(), opt.state, loss)
    if it == 1 or it % 20 == 0:
        gn = mx.sqrt(sum((v * v).sum() for _, v in nn.utils.tree_flatten(g))).item()
        print(f"iter {it:4d} | train loss {loss.item():.4f} | grad norm {gn:.3e} | "
              f"acc(tok+3) {accuracy(model, tokens, (tokens + 3) % V):.3f} | {time.time() - t0:.1f}s")
print(f"final acc(tok+3) = {accuracy(model, tokens, (tokens + 3) % V):.3f}")
