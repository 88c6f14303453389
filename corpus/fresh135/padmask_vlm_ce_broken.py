# Tiny caption-decoder fine-tune, written the way a VLM trainer calls its model:
# the collated batch carries input_ids, labels and a 2-D padding attention_mask.
# The model builds its own causal mask when `mask` is None and otherwise uses the
# mask it is handed as the complete attention mask.
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
V, L, D, H = 16, 24, 32, 2
PAD = 0


def make_rows(n, key):
    # Markov "captions": next token = prev+3 (mod 15)+1 with prob 0.6, else random.
    k1, k2, k3, k4 = mx.random.split(key, 4)
    first = mx.random.randint(1, V, (n, 1), key=k1)
    rnd = mx.random.randint(1, V, (n, L), key=k2)
    keep = mx.random.uniform(shape=(n, L), key=k3) < 0.6
    rows = [first]
    for t in range(1, L):
        prev = rows[-1]
        det = (prev - 1 + 3) % (V - 1) + 1
        rows.append(mx.where(keep[:, t : t + 1], det, rnd[:, t : t + 1]))
    ids = mx.concatenate(rows, axis=1)
    lengths = mx.random.randint(L // 2, L + 1, (n, 1), key=k4)
    pos = mx.arange(L)[None, :]
    attn = (pos < lengths).astype(mx.int32)  # right padding
    ids = mx.where(attn > 0, ids, PAD)
    return ids, attn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def __call__(self, x, mask):
        B, T, _ = x.shape
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        sh = lambda a: a.reshape(B, T, H, D // H).transpose(0, 2, 1, 3)
        o = mx.fast.scaled_dot_product_attention(
            sh(q), sh(k), sh(v), scale=1.0 / math.sqrt(D // H), mask=mask
        )
        x = x + self.proj(o.transpose(0, 2, 1, 3).reshape(B, T, D))
        return x + self.mlp(self.ln2(x))


class CaptionLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Embedding(L, D)
        self.blocks = [Block(), Block()]
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, V)

    def __call__(self, inputs, mask=None):
        T = inputs.shape[1]
        if mask is None:
            # what generation uses: build the causal mask ourselves
            mask = mx.tril(mx.ones((T, T), dtype=mx.bool_))
        elif mask.ndim == 2:
            # a supplied mask is taken verbatim as the attention mask
            mask = (mask[:, None, None, :] > 0)
        x = self.tok(inputs) + self.pos(mx.arange(T))
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.norm(x))


def baseline_loss(model, batch):
    input_ids, attention_mask = batch["input_ids"], batch["attention_mask"]
    fwd_mask = attention_mask
    logits = model(input_ids, mask=fwd_mask)
    logits, targets = logits[:, :-1], input_ids[:, 1:]
    tmask = attention_mask[:, 1:].astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    return (ce * tmask).sum() / tmask.sum()


def heldout_ce(model, ids, attn):
    # scored the way the model is used afterwards: generation, causal mask
    logits = model(ids, mask=None)[:, :-1]
    tm = attn[:, 1:].astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, ids[:, 1:], reduction="none")
    return (ce * tm).sum() / tm.sum()


model = CaptionLM()
opt = optim.Adam(learning_rate=2e-3)
train_ids, train_attn = make_rows(2048, mx.random.key(1))
val_ids, val_attn = make_rows(256, mx.random.key(2))
mx.eval(model.parameters(), train_ids, train_attn, val_ids, val_attn)
step_fn = nn.value_and_grad(model, baseline_loss)

BS, STEPS = 32, 150
print(f"caption-decoder ft | vocab={V} ctx={L} params={sum(p.size for _, p in __import__('mlx.utils', fromlist=['tree_flatten']).tree_flatten(model.trainable_parameters()))}")
t0 = time.time()
for it in range(1, STEPS + 1):
    idx = mx.random.randint(0, train_ids.shape[0], (BS,))
    batch = {"input_ids": train_ids[idx], "attention_mask": train_attn[idx]}
    loss, grads = step_fn(model, batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 15 == 0 or it == 1:
        v = heldout_ce(model, val_ids, val_attn).item()
        print(f"[it {it:4d}] train_ce={loss.item():.4f}  heldout_ce(gen)={v:.4f}  ppl={math.exp(v):6.2f}  {time.time()-t0:5.1f}s")
final_v = heldout_ce(model, val_ids, val_attn).item()
print(f"done: train_ce={loss.item():.4f} heldout_ce={final_v:.4f} (uniform={math.log(V-1):.3f})")
