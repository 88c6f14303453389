# Tiny T5-style encoder-decoder, trained from scratch on a toy "pick every other
# token and reverse it" task (source length 10 -> target length 5).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, D, HEADS, SRC_LEN, TGT_LEN = 16, 32, 2, 10, 5
BOS = 1


class MultiHeadAttention(nn.Module):
    def __init__(self, dims, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.query_proj = nn.Linear(dims, dims, bias=False)
        self.key_proj = nn.Linear(dims, dims, bias=False)
        self.value_proj = nn.Linear(dims, dims, bias=False)
        self.out_proj = nn.Linear(dims, dims, bias=False)

    def __call__(self, queries, keys, values, mask=None):
        queries = self.query_proj(queries)
        keys = self.key_proj(keys)
        values = self.value_proj(values)
        B, L, _ = queries.shape
        _, S, _ = keys.shape
        h = self.num_heads
        queries = queries.reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        keys = keys.reshape(B, S, h, -1).transpose(0, 2, 3, 1)
        values = values.reshape(B, S, h, -1).transpose(0, 2, 1, 3)
        scale = (queries.shape[-1]) ** -0.5
        scores = (queries * scale) @ keys
        if mask is not None:
            scores = scores + mask.astype(scores.dtype)
        scores = mx.softmax(scores, axis=-1)
        out = (scores @ values).transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.out_proj(out)

    @staticmethod
    def create_additive_causal_mask(N, dtype=mx.float32):
        indices = mx.arange(N)
        mask = indices[:, None] < indices[None]
        return mask.astype(dtype) * -1e9


class EncoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = MultiHeadAttention(D, HEADS)
        self.ln1 = nn.RMSNorm(D)
        self.ln2 = nn.RMSNorm(D)
        self.linear1 = nn.Linear(D, 4 * D, bias=False)
        self.linear2 = nn.Linear(4 * D, D, bias=False)

    def __call__(self, x):
        y = self.ln1(x)
        x = x + self.attention(y, y, y)
        return x + self.linear2(nn.relu(self.linear1(self.ln2(x))))


class DecoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attention = MultiHeadAttention(D, HEADS)
        self.cross_attention = MultiHeadAttention(D, HEADS)
        self.ln1 = nn.RMSNorm(D)
        self.ln2 = nn.RMSNorm(D)
        self.ln3 = nn.RMSNorm(D)
        self.linear1 = nn.Linear(D, 4 * D, bias=False)
        self.linear2 = nn.Linear(4 * D, D, bias=False)

    def __call__(self, x, memory, x_mask):
        y = self.ln1(x)
        x = x + self.self_attention(y, y, y, x_mask)
        y = self.ln2(x)
        x = x + self.cross_attention(y, memory, memory)
        return x + self.linear2(nn.relu(self.linear1(self.ln3(x))))


class T5(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(16, D)
        self.encoder = [EncoderLayer() for _ in range(1)]
        self.decoder = [DecoderLayer() for _ in range(1)]
        self.ln = nn.RMSNorm(D)
        self.lm_head = nn.Linear(D, VOCAB, bias=False)

    def __call__(self, inputs, decoder_inputs, mask=None):
        x = self.wte(inputs) + self.pos(mx.arange(inputs.shape[1]))
        y = x
        for layer in self.encoder:
            y = layer(y)

        if x.shape[1] > 1 and mask is None:
            mask = MultiHeadAttention.create_additive_causal_mask(x.shape[1])
            mask = mask.astype(x.dtype)

        decoder_inputs = self.wte(decoder_inputs) + self.pos(mx.arange(decoder_inputs.shape[1]))

        h = decoder_inputs
        for layer in self.decoder:
            h = layer(h, y, mask)
        return self.lm_head(self.ln(h))


def make_batch(n):
    src = mx.random.randint(2, VOCAB, (n, SRC_LEN))
    tgt = src[:, ::2][:, ::-1]
    dec_in = mx.concatenate([mx.full((n, 1), BOS, dtype=tgt.dtype), tgt[:, :-1]], axis=1)
    return src, dec_in, tgt


def loss_fn(model, src, dec_in, tgt):
    logits = model(src, dec_in)
    return nn.losses.cross_entropy(logits, tgt, reduction="mean")


def main():
    mx.random.seed(0)
    model = T5()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    val_src, val_dec, val_tgt = make_batch(128)

    t0 = time.time()
    for step in range(1, 401):
        src, dec_in, tgt = make_batch(32)
        loss, grads = step_fn(model, src, dec_in, tgt)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0:
            logits = model(val_src, val_dec)
            acc = (logits.argmax(-1) == val_tgt).astype(mx.float32).mean()
            print(f"step {step:4d} | train xent {loss.item():.4f} | val tok-acc {acc.item():.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
