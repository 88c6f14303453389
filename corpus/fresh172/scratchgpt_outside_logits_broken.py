# Chapter-5 style GPT pretraining on a tiny corpus, ported to MLX.
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

TEXT = (
    "every effort moves you forward when the work is honest and the hands are steady. "
    "the painter said that every effort moves you closer to the light on the canvas. "
    "she laughed and moved the brush across the wall, and the wall moved with her. "
) * 6

chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
itos = {i: c for c, i in stoi.items()}

def encode(s):
    return [stoi[c] for c in s]

def decode(ids):
    return "".join(itos[i] for i in ids)

CFG = {"vocab_size": len(chars), "context_length": 32, "emb_dim": 64,
       "n_heads": 4, "n_layers": 2, "drop_rate": 0.0, "qkv_bias": False}


class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, num_heads, qkv_bias=False):
        super().__init__()
        self.d_out, self.num_heads, self.head_dim = d_out, num_heads, d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self._causal = mx.tril(mx.ones((context_length, context_length))).astype(mx.bool_)

    def __call__(self, x):
        b, t, _ = x.shape
        q = self.W_query(x).reshape(b, t, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)
        k = self.W_key(x).reshape(b, t, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)
        v = self.W_value(x).reshape(b, t, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)
        scores = (q @ k.transpose(0, 1, 3, 2)) / self.head_dim ** 0.5
        scores = mx.where(self._causal[:t, :t], scores, -1e9)
        w = mx.softmax(scores, axis=-1)
        ctx = (w @ v).transpose(0, 2, 1, 3).reshape(b, t, self.d_out)
        return self.out_proj(ctx)


class TransformerBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.att = MultiHeadAttention(cfg["emb_dim"], cfg["emb_dim"], cfg["context_length"],
                                      cfg["n_heads"], cfg["qkv_bias"])
        self.ff = nn.Sequential(nn.Linear(cfg["emb_dim"], 4 * cfg["emb_dim"]), nn.GELU(),
                                nn.Linear(4 * cfg["emb_dim"], cfg["emb_dim"]))
        self.norm1 = nn.LayerNorm(cfg["emb_dim"])
        self.norm2 = nn.LayerNorm(cfg["emb_dim"])

    def __call__(self, x):
        x = x + self.att(self.norm1(x))
        return x + self.ff(self.norm2(x))


class GPTModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = nn.LayerNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)

    def __call__(self, idx):
        t = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(mx.arange(t))
        x = self.trf_blocks(x)
        return self.out_head(self.final_norm(x))


def make_loader(ids, max_length, stride, batch_size, shuffle, seed):
    chunks = []
    for i in range(0, len(ids) - max_length, stride):
        chunks.append((ids[i:i + max_length], ids[i + 1:i + max_length + 1]))
    def loader():
        order = list(range(len(chunks)))
        if shuffle:
            random.Random(seed).shuffle(order)
        for s in range(0, len(order) - batch_size + 1, batch_size):
            sel = [chunks[j] for j in order[s:s + batch_size]]
            yield {"input_ids": [a for a, _ in sel], "target_ids": [b for _, b in sel]}
    return loader


def compute_ce_loss(logits, target):
    loss = nn.losses.cross_entropy(logits.flatten(0, 1), target.flatten(),
                                   reduction="mean")
    return loss


def calc_loss_batch(input_batch, target_batch, model, no_grad):
    input_batch, target_batch = mx.array(input_batch), mx.array(target_batch)
    if no_grad:
        input_batch = mx.stop_gradient(input_batch)
    logits = model(input_batch)
    batch_step_fn = nn.value_and_grad(model, compute_ce_loss)
    loss, grad = batch_step_fn(logits, target_batch)
    return loss, grad


def calc_loss_loader(loader, model, num_batches):
    total, n = 0.0, 0
    for i, ex in enumerate(loader()):
        if i >= num_batches:
            break
        loss, _ = calc_loss_batch(ex["input_ids"], ex["target_ids"], model, True)
        total += loss.item()
        n += 1
    return total / max(n, 1)


def generate_text_simple(model, idx, max_new_tokens, context_size):
    for _ in range(max_new_tokens):
        logits = model(idx[:, -context_size:])[:, -1, :]
        idx = mx.concatenate([idx, mx.argmax(logits, axis=-1, keepdims=True)], axis=1)
    return idx


def train_model_simple(model, train_loader, val_loader, optimizer, num_epochs, eval_freq, eval_iter, start):
    global_step = 0
    for epoch in range(num_epochs):
        for batch in train_loader():
            loss, grads = calc_loss_batch(batch["input_ids"], batch["target_ids"], model, no_grad=False)
            optimizer.update(model, grads)
            mx.eval(loss, [model.state, optimizer.state])
            global_step += 1
            if global_step % eval_freq == 0:
                tr = calc_loss_loader(train_loader, model, eval_iter)
                va = calc_loss_loader(val_loader, model, eval_iter)
                print(f"Epoch {epoch+1}, step {global_step:06d}: train loss {tr:.3f}, val loss {va:.3f}")
        out = generate_text_simple(model, mx.array([encode(start)]), 30, CFG["context_length"])
        print(decode(out[0].tolist()).replace("\n", " "))


random.seed(123)
mx.random.seed(123)
ids = encode(TEXT)
split = int(0.9 * len(ids))
train_loader = make_loader(ids[:split], CFG["context_length"], CFG["context_length"], 8, True, 123)
val_loader = make_loader(ids[split:], CFG["context_length"], CFG["context_length"], 2, False, 0)

model = GPTModel(CFG)
optimizer = optim.AdamW(learning_rate=4e-3, weight_decay=1e-1)
train_model_simple(model, train_loader, val_loader, optimizer, num_epochs=8,
                   eval_freq=5, eval_iter=5, start="every effort moves you")
