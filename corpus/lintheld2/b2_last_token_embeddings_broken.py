"""Build a retrieval index: embed every document with a small causal encoder
and keep the final-token hidden state as the document vector."""
import time

import mlx.core as mx
import mlx.nn as nn


class CausalEncoder(nn.Module):
    def __init__(self, vocab=512, dim=64, n_layers=1):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = [nn.TransformerEncoderLayer(dim, 4, 2 * dim) for _ in range(n_layers)]

    def __call__(self, tokens):
        L = tokens.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.embed(tokens)
        for blk in self.blocks:
            h = blk(h, mask)
        return h


def document_batches(n_docs, batch, seq_len, vocab=512):
    for start in range(0, n_docs, batch):
        b = min(batch, n_docs - start)
        yield mx.random.randint(0, vocab, (b, seq_len))


def build_index(encoder, n_docs=1280, batch=32, seq_len=64):
    vectors = []
    t0 = time.perf_counter()
    for i, tokens in enumerate(document_batches(n_docs, batch, seq_len)):
        hidden = encoder(tokens)
        last = hidden[:, -1, :]
        mx.eval(last)
        vectors.append(last)
        if (i + 1) % 10 == 0:
            print(f"{(i + 1) * batch:5d} docs  active {mx.get_active_memory() / 2**20:6.1f} MiB  "
                  f"{time.perf_counter() - t0:.1f}s", flush=True)
    index = mx.concatenate(vectors, axis=0)
    index = index / mx.linalg.norm(index, axis=1, keepdims=True)
    return index


if __name__ == "__main__":
    mx.random.seed(0)
    enc = CausalEncoder()
    enc.eval()
    mx.eval(enc.parameters())
    idx = build_index(enc)
    mx.eval(idx)
    print(f"index {idx.shape}, {idx.nbytes / 2**20:.2f} MiB of vectors, "
          f"active {mx.get_active_memory() / 2**20:.1f} MiB, peak {mx.get_peak_memory() / 2**20:.1f} MiB")
