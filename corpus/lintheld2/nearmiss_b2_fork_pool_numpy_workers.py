"""Character n-gram featurisation in a (default, fork) process pool; the
workers are pure NumPy, MLX only runs in the parent."""
import multiprocessing
import zlib

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_FEATS = 128


def featurize(text):
    vec = np.zeros(N_FEATS, dtype=np.float32)
    for i in range(len(text) - 2):
        vec[zlib.crc32(text[i:i + 3].encode()) % N_FEATS] += 1.0
    return vec / max(1.0, np.linalg.norm(vec))


def corpus(rng, n):
    pos = ["great", "loved", "excellent", "wonderful", "fantastic"]
    neg = ["awful", "hated", "terrible", "boring", "dreadful"]
    filler = ["the", "movie", "plot", "actors", "really", "was", "and", "music"]
    texts, labels = [], []
    for _ in range(n):
        lab = int(rng.integers(0, 2))
        words = list(rng.choice(filler, 6)) + [str(rng.choice(pos if lab else neg))]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(lab)
    return texts, labels


def main():
    mx.random.seed(0)
    clf = nn.Linear(N_FEATS, 2)
    mx.eval(clf.parameters())  # MLX is live in the parent before the pool forks

    rng = np.random.default_rng(0)
    texts, labels = corpus(rng, 2000)
    with multiprocessing.Pool(2) as pool:
        feats = pool.map(featurize, texts, chunksize=100)
    x, y = mx.array(np.stack(feats)), mx.array(labels)

    opt = optim.SGD(learning_rate=0.5)
    vg = nn.value_and_grad(clf, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))
    for epoch in range(30):
        loss, grads = vg(clf, x, y)
        opt.update(clf, grads)
        mx.eval(clf.parameters(), opt.state)
        if epoch % 10 == 0 or epoch == 29:
            acc = (mx.argmax(clf(x), -1) == y).mean().item()
            print(f"epoch {epoch:2d} loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
