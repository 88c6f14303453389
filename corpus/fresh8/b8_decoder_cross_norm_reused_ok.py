"""Sequence reversal with a small encoder-decoder transformer.

Custom post-norm decoder layer (ported from the mlx.nn.TransformerDecoderLayer
source so we can tweak it later).
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(0)
VOCAB, L, D, H = 12, 6, 32, 4
BOS = 0


def make_split(n):
    src = rng.integers(1, VOCAB, size=(n, L))
    tgt = src[:, ::-1].copy()
    dec_in = np.concatenate([np.full((n, 1), BOS), tgt[:, :-1]], axis=1)
    return mx.array(src), mx.array(dec_in), mx.array(tgt)


train = make_split(2048)
valid = make_split(256)


class DecoderLayer(nn.Module):
    def __init__(self, dims, num_heads, mlp_dims):
        super().__init__()
        self.self_attention = nn.MultiHeadAttention(dims, num_heads)
        self.cross_attention = nn.MultiHeadAttention(dims, num_heads)
        self.ln1 = nn.LayerNorm(dims)
        self.ln2 = nn.LayerNorm(dims)
        self.ln3 = nn.LayerNorm(dims)
        self.linear1 = nn.Linear(dims, mlp_dims)
        self.linear2 = nn.Linear(mlp_dims, dims)

    def __call__(self, x, memory, x_mask):
        y = self.self_attention(x, x, x, x_mask)
        x = self.ln1(x + y)

        y = self.cross_attention(x, memory, memory)
        x = self.ln2(x + y)

        y = self.linear2(nn.relu(self.linear1(x)))
        return self.ln3(x + y)


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_emb = nn.Embedding(VOCAB, D)
        self.tgt_emb = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(L, D)
        self.encoder = nn.TransformerEncoder(1, D, H, mlp_dims=2 * D)
        self.decoder = [DecoderLayer(D, H, 2 * D) for _ in range(2)]
        self.out = nn.Linear(D, VOCAB)

    def __call__(self, src, dec_in):
        pos = self.pos(mx.arange(L))
        memory = self.encoder(self.src_emb(src) + pos, None)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.tgt_emb(dec_in) + pos
        for layer in self.decoder:
            x = layer(x, memory, mask)
        return self.out(x)


def loss_fn(model, src, dec_in, tgt):
    return nn.losses.cross_entropy(model(src, dec_in), tgt, reduction="mean")


def accuracy(model, src, dec_in, tgt):
    return mx.mean(mx.argmax(model(src, dec_in), axis=-1) == tgt)


mx.random.seed(0)
model = Seq2Seq()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

B = 64
print(f"{'epoch':>5} | {'train_ce':>8} | {'val_acc':>7}")
for epoch in range(1, 6):
    perm = mx.array(rng.permutation(train[0].shape[0]))
    tot, nb = 0.0, 0
    for i in range(0, perm.size, B):
        idx = perm[i : i + B]
        loss, grads = loss_and_grad(model, train[0][idx], train[1][idx], train[2][idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    acc = accuracy(model, *valid).item()
    print(f"{epoch:>5} | {tot / nb:8.4f} | {acc:7.3f}")
