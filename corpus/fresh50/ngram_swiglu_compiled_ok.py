"""Word-level 4-gram MLP language model (RMSNorm + SwiGLU feed-forward).

Trains on a small generated corpus of arithmetic sentences and logs with the
`logging` module.  The step function is compiled for speed.
"""
import logging
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("ngram")

CTX, DIM, HIDDEN = 4, 48, 128
NUMS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def corpus(n_sent=3000, seed=0):
    rng = random.Random(seed)
    words = []
    for _ in range(n_sent):
        a, b = rng.randrange(10), rng.randrange(10)
        if a + b < 10:
            words += [NUMS[a], "plus", NUMS[b], "is", NUMS[a + b], "."]
        else:
            words += [NUMS[a], "minus", NUMS[min(a, b)], "is", NUMS[a - min(a, b)], "."]
    return words


class RMSNorm(nn.Module):
    def __init__(self, dims, eps=1e-5):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.eps = eps

    def __call__(self, x):
        return mx.fast.rms_norm(x, self.weight, self.eps)


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def __call__(self, x):
        return self.w2(nn.silu(self.w1(x)) * self.w3(x))


class FourGramLM(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.emb = nn.Embedding(vocab, DIM)
        self.proj = nn.Linear(CTX * DIM, DIM, bias=False)
        self.norm1 = RMSNorm(DIM)
        self.ff = SwiGLU(DIM, HIDDEN)
        self.norm2 = RMSNorm(DIM)
        self.out = nn.Linear(DIM, vocab)

    def __call__(self, ctx):
        h = self.proj(self.emb(ctx).reshape(ctx.shape[0], -1))
        h = h + self.ff(self.norm1(h))
        return self.out(self.norm2(h))


def loss_fn(model, ctx, target):
    return nn.losses.cross_entropy(model(ctx), target, reduction="mean")


def main():
    words = corpus()
    vocab = sorted(set(words))
    ids = mx.array([vocab.index(w) for w in words])
    X = mx.stack([ids[i:len(ids) - CTX + i] for i in range(CTX)], axis=1)
    Y = ids[CTX:]
    n = Y.shape[0]
    log.info("corpus: %d tokens, vocab %d, %d training windows", len(words), len(vocab), n)

    mx.random.seed(1)
    model = FourGramLM(len(vocab))
    optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)

    def step(ctx, target):
        loss_and_grad = nn.value_and_grad(model, loss_fn)
        loss, grads = loss_and_grad(model, ctx, target)
        optimizer.update(model, grads)
        return loss

    mx.eval(model.parameters())
    batch = 64
    for epoch in range(3):
        perm = mx.random.permutation(n)
        t0 = time.perf_counter()
        running = []
        for b, s in enumerate(range(0, n - batch + 1, batch)):
            idx = perm[s:s + batch]
            loss = step(X[idx], Y[idx])
            mx.eval(loss, model.parameters(), optimizer.state)
            running.append(loss.item())
            if b % 70 == 0:
                log.info("epoch %d batch %03d loss %.4f", epoch, b, sum(running[-10:]) / len(running[-10:]))
        log.info("epoch %d done: mean loss %.4f (%.1fs)", epoch, sum(running) / len(running), time.perf_counter() - t0)

    # answer accuracy: "<a> plus|minus <b> is" -> the right number word
    qs, ans = [], []
    for a in range(10):
        for b in range(10):
            if a + b < 10:
                qs.append([NUMS[a], "plus", NUMS[b], "is"]); ans.append(NUMS[a + b])
            elif b <= a:
                qs.append([NUMS[a], "minus", NUMS[b], "is"]); ans.append(NUMS[a - b])
    q = mx.array([[vocab.index(w) for w in row] for row in qs])
    pred = [vocab[i] for i in mx.argmax(model(q), axis=-1).tolist()]
    acc = sum(p == t for p, t in zip(pred, ans)) / len(ans)
    log.info("answer accuracy on %d sums/differences: %.3f ('two plus three is' -> '%s')",
             len(ans), acc, pred[qs.index(["two", "plus", "three", "is"])])

if __name__ == "__main__":
    main()
