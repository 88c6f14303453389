# Tiny MoE decoder on a repeated verse; load-balance aux loss on while training,
# held-out perplexity every 20 steps (model called without aux loss).
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
TEXT = ("shall i compare thee to a summers day thou art more lovely and more temperate "
        "rough winds do shake the darling buds of may and summers lease hath all too short a date ") * 8
chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
data = mx.array([stoi[c] for c in TEXT])
split = int(0.85 * data.size)
train_ids, val_ids = data[:split], data[split:]
V, T, B, D = len(chars), 24, 16, 32


def batch(src, n):
    idx = mx.random.randint(0, src.size - T - 1, (n,))
    pos = idx[:, None] + mx.arange(T)[None]
    return src[pos][..., None], src[pos + 1]


class FFN(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.up = nn.Linear(d, h)
        self.down = nn.Linear(h, d)

    def __call__(self, x):
        return self.down(nn.gelu(self.up(x)))


class MoE(nn.Module):
    def __init__(self, d, h, n_exp=4, top_k=1):
        super().__init__()
        self.n_exp, self.top_k = n_exp, top_k
        self.gate = nn.Linear(d, n_exp, bias=False)
        self.experts = [FFN(d, h) for _ in range(n_exp)]

    def __call__(self, x, return_load_balance_loss=False):
        probs = mx.softmax(self.gate(x), axis=-1)
        top = mx.stop_gradient(mx.argpartition(-probs, kth=self.top_k, axis=-1)[..., : self.top_k])
        out = mx.zeros_like(x)
        for e, expert in enumerate(self.experts):
            w = (probs[..., e] * (top == e).any(axis=-1))[..., None]
            out = out + w * expert(x)
        load_balance_loss = None
        if return_load_balance_loss:
            frac = mx.stack([(top == e).any(axis=-1).mean() for e in range(self.n_exp)])
            load_balance_loss = self.n_exp * (frac * probs.mean(axis=(0, 1))).sum()
        return out, {"aux_loss": load_balance_loss}


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ff = MoE(d, 2 * d)

    def __call__(self, x, mask, return_aux_loss):
        h = self.n1(x)
        x = x + self.attn(h, h, h, mask)
        ff, extra = self.ff(self.n2(x), return_load_balance_loss=return_aux_loss)
        return x + ff, {"aux_loss": extra["aux_loss"]}


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V, D)
        self.pos_embedding = mx.random.normal((T, D)) * 0.02
        self.blocks = [Block(D, 4) for _ in range(2)]
        self.proj_ff = nn.Linear(D, V, bias=False)

    def __call__(self, x, return_aux_loss=False):
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.embedding(x.squeeze(axis=-1)) + self.pos_embedding[:L]
        total_aux_loss = mx.array(0.0)
        for blk in self.blocks:
            x, extra = blk(x, mask, return_aux_loss)
            aux_loss = extra["aux_loss"]
            if return_aux_loss:
                total_aux_loss = total_aux_loss + aux_loss
        x = self.proj_ff(x)
        if return_aux_loss:
            return x, total_aux_loss
        return x


model = Decoder()
model.freeze(keys=["pos_embedding"])
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)


def loss_fn(m, x, y):
    logits, aux = m(x, return_aux_loss=True)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    return ce + 0.01 * aux, (ce, aux)


step_fn = nn.value_and_grad(model, loss_fn)


def heldout_ppl():
    model.eval()
    x, y = batch(val_ids, 32)
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    model.train()
    return math.exp(ce.item())


print(f"vocab={V} train_tokens={train_ids.size} val_tokens={val_ids.size}")
for step in range(1, 101):
    x, y = batch(train_ids, B)
    (loss, (ce, aux)), grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, ce, aux)
    if step % 20 == 0:
        print(f"step {step:4d} | ce {ce.item():.4f} | lb {aux.item():.3f} | heldout ppl {heldout_ppl():.2f}")
print("done")
