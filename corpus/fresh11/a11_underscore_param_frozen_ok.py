"""Tiny ESM-style sequence classifier: token embedding (with a fixed all-zero
padding row, as in ESM), mean pooling over real tokens, and a linear head.
Task: is the sequence 'hydrophobic-rich' (more tokens from set A than set B)."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)

VOCAB, PAD, DIM, SEQ = 24, 0, 6, 16
SET_A = mx.array([1, 2, 3, 4, 5, 6, 7, 8])
SET_B = mx.array([9, 10, 11, 12, 13, 14, 15, 16])


def make_data(n):
    toks = mx.random.randint(1, VOCAB, (n, SEQ))
    lengths = mx.random.randint(8, SEQ + 1, (n, 1))
    mask = mx.arange(SEQ)[None, :] < lengths
    toks = mx.where(mask, toks, PAD)
    in_a = mx.sum((toks[..., None] == SET_A).any(-1), axis=1)
    in_b = mx.sum((toks[..., None] == SET_B).any(-1), axis=1)
    return toks, (in_a > in_b).astype(mx.int32)


class PaddedEmbedding(nn.Module):
    """Embedding whose padding row is pinned to zeros."""

    def __init__(self, vocab, dim, pad_idx):
        super().__init__()
        self.pad_idx = pad_idx
        rows = mx.random.normal((vocab - 1, dim)) * 0.1
        # keep the learned rows and the zero padding row together in one table
        self.weight = mx.concatenate([mx.zeros((1, dim)), rows], axis=0)

    def __call__(self, ids):
        return self.weight[ids]


class SeqClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = PaddedEmbedding(VOCAB, DIM, PAD)
        self.head = nn.Linear(DIM, 2)

    def __call__(self, ids):
        mask = (ids != PAD)[..., None]
        h = self.embed(ids) * mask
        pooled = h.sum(axis=1) / mask.sum(axis=1)
        return self.head(pooled)


def loss_fn(model, ids, y):
    return nn.losses.cross_entropy(model(ids), y, reduction="mean")


train_x, train_y = make_data(2048)
val_x, val_y = make_data(512)
model = SeqClassifier()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-2)
step_fn = nn.value_and_grad(model, loss_fn)

BATCH = 128
for epoch in range(1, 31):
    perm = mx.random.permutation(train_x.shape[0])
    tot, nb = 0.0, 0
    for i in range(0, train_x.shape[0], BATCH):
        idx = perm[i:i + BATCH]
        loss, grads = step_fn(model, train_x[idx], train_y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    if epoch % 3 == 0:
        acc = mx.mean(mx.argmax(model(val_x), axis=1) == val_y).item()
        print(f"epoch {epoch:2d} | nll {tot / nb:.4f} | val_acc {acc:.3f}")
