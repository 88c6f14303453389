"""Bag-of-tokens topic classifier, compiled step, NLL written out by hand."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, TOPICS, DOC_LEN = 50, 4, 4


def corpus(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    topic = mx.random.randint(0, TOPICS, (n,), key=k1)
    # each topic prefers its own block of 12 token ids; 60% of tokens are noise
    own = topic[:, None] * 12 + mx.random.randint(0, 12, (n, DOC_LEN), key=k2)
    noise = mx.random.randint(0, VOCAB, (n, DOC_LEN), key=k3)
    keep = mx.random.uniform(shape=(n, DOC_LEN)) < 0.4
    return mx.where(keep, own, noise), topic


class BagClassifier(nn.Module):
    def __init__(self, dims=24):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dims)
        self.cls = nn.Linear(dims, TOPICS)

    def __call__(self, tokens):
        return self.cls(self.emb(tokens).mean(axis=1))


def nll(clf, tokens, topic):
    logits = clf(tokens)
    logz = mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = logits - logz
    onehot = (mx.arange(TOPICS)[None, :] == topic[:, None]).astype(logp.dtype)
    return -mx.mean(mx.sum(onehot * logp, axis=-1))


def main():
    mx.random.seed(0)
    toks, ys = corpus(3000, mx.random.key(0))
    test_toks, test_ys = corpus(500, mx.random.key(1))
    clf = BagClassifier()
    opt = optim.Adam(learning_rate=2e-3)
    vg = nn.value_and_grad(clf, nll)
    state = [clf.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(t, y):
        loss, g = vg(clf, t, y)
        opt.update(clf, g)
        return loss

    for epoch in range(4):
        for s in range(0, 3000, 100):
            loss = step(toks[s : s + 100], ys[s : s + 100])
            mx.eval(state)
        acc = (mx.argmax(clf(test_toks), axis=1) == test_ys).astype(mx.float32).mean().item()
        print(f"epoch {epoch} nll {loss.item():.4f} test acc {acc:.3f}")


if __name__ == "__main__":
    main()
