"""Token-bag sentiment classifier on a toy vocabulary."""
import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import AdamW, cosine_decay


class TextModel(nn.Module):
    """Shared helpers for our text models."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab = vocab

    def num_params(self):
        from mlx.utils import tree_flatten
        return sum(p.size for _, p in tree_flatten(self.parameters()))


class BagClassifier(TextModel):
    def __init__(self, vocab, dim=16, n_cls=2):
        self.vocab = vocab
        self.embed = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, n_cls)

    def __call__(self, tokens, mask):
        e = self.embed(tokens) * mask[..., None]
        pooled = e.sum(axis=1) / mx.maximum(mask.sum(axis=1, keepdims=True), 1)
        return self.proj(pooled)


def toy_corpus(n, vocab, max_len=12, seed=0):
    mx.random.seed(seed)
    lengths = mx.random.randint(3, max_len + 1, (n,))
    tokens = mx.random.randint(0, vocab, (n, max_len))
    mask = (mx.arange(max_len)[None, :] < lengths[:, None]).astype(mx.float32)
    positive = (tokens < vocab // 4).astype(mx.float32) * mask
    negative = (tokens >= 3 * vocab // 4).astype(mx.float32) * mask
    labels = (positive.sum(1) > negative.sum(1)).astype(mx.int32)
    return tokens, mask, labels


def main():
    vocab = 200
    tokens, mask, labels = toy_corpus(2000, vocab)
    clf = BagClassifier(vocab)
    print("params:", clf.num_params())
    steps = 150
    opt = AdamW(learning_rate=cosine_decay(5e-2, steps))

    def xent(m, t, k, y):
        return nn.losses.cross_entropy(m(t, k), y).mean()

    vg = nn.value_and_grad(clf, xent)
    for s in range(steps):
        sl = slice((s * 64) % 1984, (s * 64) % 1984 + 64)
        loss, g = vg(clf, tokens[sl], mask[sl], labels[sl])
        opt.update(clf, g)
        mx.eval(loss, clf.parameters(), opt.state)
        if s % 30 == 0:
            print(f"step {s} loss {loss.item():.3f}")
    acc = (clf(tokens, mask).argmax(-1) == labels).mean()
    print(f"train accuracy {acc.item():.3f}")


if __name__ == "__main__":
    main()
