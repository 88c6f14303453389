# Tiny BERT masked-language-model pretraining on synthetic "arithmetic walk" sequences.
from dataclasses import dataclass
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass
class ModelArgs:
    dim: int = 32
    num_attention_heads: int = 4
    num_hidden_layers: int = 1
    vocab_size: int = 36
    max_position_embeddings: int = 32
    layer_norm_eps: float = 1e-12


MASK_ID = 35


class TransformerEncoderLayer(nn.Module):
    def __init__(self, dims, num_heads, mlp_dims=None):
        super().__init__()
        mlp_dims = mlp_dims or dims * 4
        self.attention = nn.MultiHeadAttention(dims, num_heads, bias=True)
        self.ln1 = nn.LayerNorm(dims, eps=1e-12)
        self.ln2 = nn.LayerNorm(dims, eps=1e-12)
        self.linear1 = nn.Linear(dims, mlp_dims)
        self.linear2 = nn.Linear(mlp_dims, dims)
        self.gelu = nn.GELU()

    def __call__(self, x, mask):
        attention_out = self.attention(x, x, x, mask)
        add_and_norm = self.ln1(x + attention_out)
        ff_out = self.linear2(self.gelu(self.linear1(add_and_norm)))
        return self.ln2(ff_out + add_and_norm)


class TransformerEncoder(nn.Module):
    def __init__(self, num_layers, dims, num_heads):
        super().__init__()
        self.layers = [TransformerEncoderLayer(dims, num_heads) for _ in range(num_layers)]

    def __call__(self, x, mask):
        for layer in self.layers:
            x = layer(x, mask)
        return x


class BertEmbeddings(nn.Module):
    def __init__(self, config: ModelArgs):
        super().__init__()  # Ensure superclass is properly initialized
        self.word_embeddings = nn.Embedding(config.vocab_size, config.dim)
        self.token_type_embeddings = nn.Embedding(2, config.dim)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.dim)
        self.norm = nn.LayerNorm(config.dim, eps=config.layer_norm_eps)

    def __call__(self, input_ids, token_type_ids):
        words = self.word_embeddings(input_ids)
        position = self.position_embeddings(
            mx.broadcast_to(mx.arange(input_ids.shape[1]), input_ids.shape)
        )
        token_types = self.token_type_embeddings(token_type_ids)
        return self.norm(position + words + token_types)


class Bert(nn.Module):
    def __init__(self, config: ModelArgs):
        super().__init__()  # Ensure superclass is properly initialized

        self.embeddings = BertEmbeddings(config)
        self.encoder = TransformerEncoder(config.num_hidden_layers, config.dim,
                                          config.num_attention_heads)
        self.pooler = nn.Linear(config.dim, config.dim)

    def __call__(self, input_ids, token_type_ids, attention_mask=None):
        x = self.embeddings(input_ids, token_type_ids)
        if attention_mask is not None:
            attention_mask = mx.log(attention_mask)
            attention_mask = mx.expand_dims(attention_mask, (1, 2))
        y = self.encoder(x, attention_mask)
        return y, mx.tanh(self.pooler(y[:, 0]))


class BertForMLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.bert = Bert(config)
        self.head = nn.Linear(config.dim, config.vocab_size)

    def __call__(self, ids, types, attn):
        y, _ = self.bert(ids, types, attn)
        return self.head(y)


def make_corpus(rng, n, length, vocab=32):
    starts = rng.integers(0, vocab, size=(n, 1))
    steps = rng.integers(1, 3, size=(n, 1))
    seq = (starts + steps * np.arange(length)[None, :]) % vocab
    return seq.astype(np.int32)


def mask_batch(rng, ids, p=0.2):
    m = rng.random(ids.shape) < p
    m[:, 0] = True  # always at least one masked position per row
    inp = np.where(m, MASK_ID, ids)
    return inp, m.astype(np.float32)


def main():
    rng = np.random.default_rng(3)
    cfg = ModelArgs()
    mx.random.seed(3)
    model = BertForMLM(cfg)
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)

    train = make_corpus(rng, 1280, 12)
    val = make_corpus(np.random.default_rng(99), 128, 12)

    def loss_fn(model, inp, types, attn, tgt, m):
        logits = model(inp, types, attn)
        ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
        return (ce * m).sum() / m.sum()

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    bs = 32
    types = mx.zeros((bs, 12), dtype=mx.int32)
    attn = mx.ones((bs, 12))
    for epoch in range(1, 6):
        t0 = time.time()
        perm = rng.permutation(len(train))
        losses = []
        for i in range(0, len(train), bs):
            ids = train[perm[i:i + bs]]
            inp, m = mask_batch(rng, ids)
            loss, grads = loss_and_grad(model, mx.array(inp), types, attn,
                                        mx.array(ids), mx.array(m))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
        vin, vm = mask_batch(np.random.default_rng(7), val)
        vlogits = model(mx.array(vin), mx.zeros(val.shape, dtype=mx.int32), mx.ones(val.shape))
        pred = np.array(mx.argmax(vlogits, axis=-1))
        acc = ((pred == val) * vm).sum() / vm.sum()
        print(f"epoch {epoch} | mlm_loss {np.mean(losses):.4f} | masked_acc {acc:.3f} | {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
