# Tiny attention classifier for padded token sequences (e.g. short product reviews):
# one self-attention block over padded batches, masked mean pooling, linear head.
# Batches are padded to MAX_LEN; the attention mask comes from the padding mask.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, MAX_LEN, DIM, HEADS = 40, 32, 32, 2
PAD, GOOD, BAD = 0, 1, 2


def make_reviews(n, rng):
    seqs, labels = [], []
    for _ in range(n):
        L = int(rng.integers(4, MAX_LEN + 1))
        toks = rng.integers(3, VOCAB, L)
        ng, nb = rng.integers(0, 4), rng.integers(0, 4)
        while ng == nb:
            nb = rng.integers(0, 4)
        pos = rng.choice(L, size=min(L, ng + nb), replace=False)
        toks[pos[:ng]] = GOOD
        toks[pos[ng:ng + nb]] = BAD
        seqs.append(toks)
        labels.append(int(np.sum(toks == GOOD) > np.sum(toks == BAD)))
    return seqs, np.array(labels, np.int32)


def pad_batch(seqs, length=MAX_LEN):
    ids = np.full((len(seqs), length), PAD, np.int32)
    am = np.zeros((len(seqs), length), np.float32)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = s
        am[i, :len(s)] = 1.0
    return mx.array(ids), mx.array(am)


class ReviewEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(MAX_LEN, DIM)
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)
        self.norm = nn.LayerNorm(DIM)
        self.ff = nn.Sequential(nn.Linear(DIM, 64), nn.GELU(), nn.Linear(64, DIM))
        self.head = nn.Linear(DIM, 2)

    def __call__(self, ids, attention_mask):
        B, L = ids.shape
        h = self.tok(ids) + self.pos(mx.arange(L))
        q, k, v = mx.split(self.qkv(h), 3, axis=-1)
        q, k, v = (t.reshape(B, L, HEADS, DIM // HEADS).transpose(0, 2, 1, 3) for t in (q, k, v))
        mask = attention_mask[:, None, None, :].astype(h.dtype)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=(DIM // HEADS) ** -0.5, mask=mask)
        h = h + self.proj(a.transpose(0, 2, 1, 3).reshape(B, L, DIM))
        h = h + self.ff(self.norm(h))
        m = attention_mask[..., None]
        pooled = (h * m).sum(1) / m.sum(1)
        return self.head(pooled)


def loss_fn(model, ids, am, y):
    return nn.losses.cross_entropy(model(ids, am), y, reduction="mean")


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    tr_s, tr_y = make_reviews(6000, rng)
    te_s, te_y = make_reviews(600, rng)
    model = ReviewEncoder()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    vg = nn.value_and_grad(model, loss_fn)
    bs = 64
    t0 = time.time()
    for epoch in range(1, 5):
        perm = rng.permutation(len(tr_s))
        losses = []
        for i in range(0, len(perm) - bs + 1, bs):
            idx = perm[i:i + bs]
            ids, am = pad_batch([tr_s[j] for j in idx])
            loss, g = vg(model, ids, am, mx.array(tr_y[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
        ids, am = pad_batch(te_s)
        acc = (mx.argmax(model(ids, am), -1) == mx.array(te_y)).astype(mx.float32).mean().item()
        print(f"epoch {epoch}: train_loss={np.mean(losses):.4f} test_acc(padded batch)={100*acc:.1f}% ({time.time()-t0:.1f}s)")

    # serve one review at a time, no padding, and compare with the padded batch
    ids, am = pad_batch(te_s)
    batched = np.array(model(ids, am))
    single = np.stack([np.array(model(*pad_batch([s], len(s))))[0] for s in te_s])
    acc1 = float(np.mean(single.argmax(-1) == te_y))
    flips = float(np.mean(single.argmax(-1) != batched.argmax(-1)))
    drift = float(np.abs(batched - single).max())
    print(f"serving check: accuracy one-at-a-time={100*acc1:.1f}%  max |logit(padded) - logit(unpadded)|={drift:.4f}  changed predictions={100*flips:.1f}%")


if __name__ == "__main__":
    main()
