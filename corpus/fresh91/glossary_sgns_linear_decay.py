"""Skip-gram with negative sampling on a synthetic trade-glossary corpus.

Classic word2vec recipe: separate input ("word") and output ("context")
embedding tables, k noise words drawn from the unigram distribution raised to
0.75, SGD whose learning rate decays linearly to almost nothing over the run.
Quality is measured by how many nearest neighbours share the word's trade.
"""
import logging
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

log = logging.getLogger("sgns")


class Config:
    trades = ("cooper", "farrier", "thatcher", "chandler", "wheelwright", "tanner",
              "glazier", "fletcher", "saddler", "cordwainer")
    words_per_trade = 6
    n_function_words = 8
    sentences = 10000
    window = 2
    negatives = 5
    dim = 24
    batch = 512
    epochs = 5
    lr0 = 2.5
    lr_floor = 1e-4 * 2.5
    report_every = 300


def build_corpus(cfg, rng):
    vocab = [f"{t}_{i}" for t in cfg.trades for i in range(cfg.words_per_trade)]
    topic = [j for j in range(len(cfg.trades)) for _ in range(cfg.words_per_trade)]
    vocab += [f"fn_{i}" for i in range(cfg.n_function_words)]
    topic += [-1] * cfg.n_function_words
    n_content = len(cfg.trades) * cfg.words_per_trade
    # Zipf-like preference inside each trade
    within = 1.0 / np.arange(1, cfg.words_per_trade + 1) ** 0.8
    within /= within.sum()
    sents = []
    for _ in range(cfg.sentences):
        t = rng.integers(len(cfg.trades))
        length = rng.integers(6, 13)
        s = []
        for _ in range(length):
            r = rng.random()
            if r < 0.30:
                s.append(n_content + rng.integers(cfg.n_function_words))
            elif r < 0.92:
                s.append(t * cfg.words_per_trade + rng.choice(cfg.words_per_trade, p=within))
            else:  # stray word from another trade
                s.append(rng.integers(n_content))
        sents.append(s)
    return vocab, np.array(topic), sents


def skipgram_pairs(sents, window):
    centre, ctx = [], []
    for s in sents:
        for i, w in enumerate(s):
            for j in range(max(0, i - window), min(len(s), i + window + 1)):
                if j != i:
                    centre.append(w)
                    ctx.append(s[j])
    return np.array(centre, dtype=np.int32), np.array(ctx, dtype=np.int32)


class SGNS(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.word = nn.Embedding(vocab_size, dim)
        self.context = nn.Embedding(vocab_size, dim)
        # word2vec starts the context table at zero; a tiny random start keeps
        # both tables receiving gradient from the very first step
        self.word.weight = mx.random.uniform(-0.5 / dim, 0.5 / dim, (vocab_size, dim))
        self.context.weight = mx.random.uniform(-0.5 / dim, 0.5 / dim, (vocab_size, dim))

    def __call__(self, centre, pos, neg):
        u = self.word(centre)                       # (B, D)
        v_pos = self.context(pos)                   # (B, D)
        v_neg = self.context(neg)                   # (B, K, D)
        s_pos = mx.sum(u * v_pos, axis=-1)
        s_neg = mx.sum(v_neg * u[:, None, :], axis=-1)
        # -log sigma(s) = softplus(-s)
        return mx.mean(nn.softplus(-s_pos) + mx.sum(nn.softplus(s_neg), axis=-1))


def neighbour_precision(model, topic, k=4):
    """Share (%) of the k nearest neighbours (cosine, word table) of each
    content word that belong to the same trade.  Higher is better."""
    w = np.array(model.word.weight)
    w = w / (np.linalg.norm(w, axis=1, keepdims=True) + 1e-8)
    sim = w @ w.T
    np.fill_diagonal(sim, -np.inf)
    content = np.where(topic >= 0)[0]
    hits = 0
    for i in content:
        nn_idx = np.argsort(-sim[i])[:k]
        hits += np.sum(topic[nn_idx] == topic[i])
    return 100.0 * hits / (k * len(content))


def main():
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(relativeCreated)7.0fms %(name)s %(levelname)s %(message)s")
    cfg = Config()
    rng = np.random.default_rng(2024)
    vocab, topic, sents = build_corpus(cfg, rng)
    centre, ctx = skipgram_pairs(sents, cfg.window)
    counts = np.bincount(np.concatenate(sents), minlength=len(vocab)).astype(np.float64)
    noise = counts ** 0.75
    noise /= noise.sum()
    log.info("corpus: %d sentences, %d tokens, vocab %d, %d skip-gram pairs",
             len(sents), int(counts.sum()), len(vocab), len(centre))

    mx.random.seed(11)
    model = SGNS(len(vocab), cfg.dim)
    mx.eval(model.parameters())

    steps_per_epoch = len(centre) // cfg.batch
    total_steps = steps_per_epoch * cfg.epochs
    sched = optim.linear_schedule(cfg.lr0, cfg.lr_floor, total_steps)
    opt = optim.SGD(learning_rate=sched)
    loss_and_grad = nn.value_and_grad(model, lambda m, c, p, n: m(c, p, n))

    log.info("untrained: neighbour precision@4 %.1f%% (chance %.1f%%)",
             neighbour_precision(model, topic),
             100.0 * (cfg.words_per_trade - 1) / (len(vocab) - 1))

    t0 = time.perf_counter()
    ema, beta, n_upd = 0.0, 0.98, 0
    for epoch in range(cfg.epochs):
        perm = rng.permutation(len(centre))
        for b in range(steps_per_epoch):
            idx = perm[b * cfg.batch:(b + 1) * cfg.batch]
            neg = rng.choice(len(vocab), size=(cfg.batch, cfg.negatives), p=noise)
            lr_used = float(sched(opt.step).item())
            loss, grads = loss_and_grad(model, mx.array(centre[idx]), mx.array(ctx[idx]),
                                        mx.array(neg.astype(np.int32)))
            if n_upd == 0:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if not mx.any(g != 0).item()]
                log.info("first-step gradients: %s; all-zero: %s",
                         ", ".join(k for k, _ in flat), dead or "none")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            n_upd += 1
            ema = beta * ema + (1 - beta) * loss.item()
            if n_upd % cfg.report_every == 0 or n_upd == total_steps:
                log.info("epoch %d step %5d/%d lr %.4f  loss(nats/pair, ema bias-corrected) %.4f"
                         "  nbr-precision@4 %.1f%%  %.1fs",
                         epoch + 1, n_upd, total_steps, lr_used, ema / (1 - beta ** n_upd),
                         neighbour_precision(model, topic), time.perf_counter() - t0)

    # a qualitative look at three words
    w = np.array(model.word.weight)
    w = w / np.linalg.norm(w, axis=1, keepdims=True)
    for word in ("cooper_0", "tanner_1", "glazier_2"):
        i = vocab.index(word)
        near = np.argsort(-(w @ w[i]))[1:5]
        log.info("nearest to %-10s -> %s", word, " ".join(vocab[j] for j in near))
    log.info("done after %d updates", n_upd)


if __name__ == "__main__":
    main()
