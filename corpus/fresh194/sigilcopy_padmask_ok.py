# Tiny decoder LM (phi3_v-style forward) fine-tuned on a padded copy task.
# The batch carries an attention (padding) mask, as a VLM trainer passes it.
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

V, PAD, BOS, SEP = 20, 0, 1, 2          # tokens 3..19 are symbols
MAXP, D, H, NL = 6, 64, 4, 2
L = 2 * MAXP + 2


def create_attention_mask(h):
    n = h.shape[1]
    return mx.tril(mx.ones((n, n), dtype=mx.bool_))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.RMSNorm(D), nn.RMSNorm(D)
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.o = nn.Linear(D, D, bias=False)
        self.up = nn.Linear(D, 4 * D)
        self.down = nn.Linear(4 * D, D)

    def __call__(self, x, mask):
        B, n, _ = x.shape
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        q, k, v = (t.reshape(B, n, H, D // H).transpose(0, 2, 1, 3) for t in (q, k, v))
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(D // H), mask=mask)
        x = x + self.o(a.transpose(0, 2, 1, 3).reshape(B, n, D))
        return x + self.down(nn.gelu(self.up(self.ln2(x))))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(L, D)
        self.layers = [Block() for _ in range(NL)]
        self.norm = nn.RMSNorm(D)
        self.head = nn.Linear(D, V, bias=False)

    def __call__(self, ids, mask=None):
        h = self.emb(ids) + self.pos(mx.arange(ids.shape[1]))
        if mask is None:
            mask = create_attention_mask(h)
        else:
            seq_len = h.shape[-2]
            causal_mask = mx.tril(mx.ones((seq_len, seq_len), dtype=mx.bool_))
            mask = (mask & causal_mask) > 0
        for layer in self.layers:
            h = layer(h, mask)
        return self.head(self.norm(h))


def make_batch(rng, bs):
    ids = np.full((bs, L), PAD, dtype=np.int32)
    attn = np.zeros((bs, L), dtype=bool)
    for b in range(bs):
        p = rng.integers(3, V, size=rng.integers(3, MAXP + 1))
        seq = [BOS, *p, SEP, *p]
        ids[b, : len(seq)] = seq
        attn[b, : len(seq)] = True
    return mx.array(ids), mx.array(attn)


def loss_fn(model, ids, attn):
    kmask = attn[:, None, None, :]                  # (B,1,1,L) padding mask
    logits = model(ids[:, :-1], kmask[..., :-1])
    tgt, valid = ids[:, 1:], attn[:, 1:]
    ce = nn.losses.cross_entropy(logits, tgt) * valid
    return ce.sum() / valid.sum()


def heldout_ce(model, rng, n=64):
    # held-out next-token loss, decoding as generation does: causal, no padding mask
    ids, attn = make_batch(rng, n)
    logits = model(ids[:, :-1])
    valid = attn[:, 1:]
    ce = nn.losses.cross_entropy(logits, ids[:, 1:]) * valid
    return (ce.sum() / valid.sum()).item()


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    model = TinyLM()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for it in range(1, 161):
        ids, attn = make_batch(rng, 32)
        loss, grads = step_fn(model, ids, attn)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 20 == 0:
            ev = heldout_ce(model, np.random.default_rng(99))
            print(f"it {it:4d} | train_ce {loss.item():.4f} | heldout_ce {ev:.4f} | {time.time()-t0:.1f}s")
    ev = heldout_ce(model, np.random.default_rng(7), n=256)
    print(f"final held-out ce {ev:.4f} nats (uniform guess {math.log(V-3):.3f})")


if __name__ == "__main__":
    main()
