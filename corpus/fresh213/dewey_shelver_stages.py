# Dewey shelving helper: guess the Dewey hundreds class of a (synthetic) book title.
# Stage A: frozen random word embeddings, train only the classifier head.
# Stage B: harder titles (more cross-subject words), unfreeze embeddings too.
import random
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CLASSES = ["000 general", "100 philosophy", "300 social", "500 science", "600 technology", "800 literature"]
SUBJ = [
    "almanac index digest encyclopedia catalogue trivia records bibliography".split(),
    "ethics logic mind virtue reason stoic being doubt".split(),
    "law economy school family market vote welfare crime".split(),
    "physics comets algebra cells botany atoms fossils tides".split(),
    "engines bridges radio welding farming cookery circuits pumps".split(),
    "poems sonnets novel verse drama fables ballads essays".split(),
]
SHARED = "history guide modern essential introduction handbook practical world story art".split()
STOP = "the of and a to in for on with new".split()
VOCAB = ["<pad>"] + sorted(set(w for s in SUBJ for w in s) | set(SHARED) | set(STOP))
W2I = {w: i for i, w in enumerate(VOCAB)}
MAXLEN = 9


def make_titles(n, cross, rnd):
    X = np.zeros((n, MAXLEN), np.int32)
    y = np.zeros(n, np.int32)
    for i in range(n):
        c = rnd.randrange(len(SUBJ))
        words = [rnd.choice(SUBJ[c]) for _ in range(rnd.randint(1, 2))]
        words += [rnd.choice(SHARED) for _ in range(rnd.randint(1, 3))]
        words += [rnd.choice(STOP) for _ in range(rnd.randint(1, 2))]
        for _ in range(cross):  # words borrowed from another subject
            words.append(rnd.choice(SUBJ[rnd.randrange(len(SUBJ))]))
        rnd.shuffle(words)
        ids = [W2I[w] for w in words][:MAXLEN]
        X[i, : len(ids)] = ids
        y[i] = c
    return mx.array(X), mx.array(y)


class BagClassifier(nn.Module):
    def __init__(self, vocab, dim, ncls):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.head = nn.Sequential(nn.Linear(dim, 32), nn.ReLU(), nn.Linear(32, ncls))

    def __call__(self, ids):
        m = (ids != 0).astype(mx.float32)[..., None]
        pooled = (self.emb(ids) * m).sum(axis=1) / mx.maximum(m.sum(axis=1), 1.0)
        return self.head(pooled)


def loss_fn(model, X, y):
    return nn.losses.cross_entropy(model(X), y, reduction="mean")


def accuracy(model, X, y):
    return (mx.argmax(model(X), axis=1) == y).astype(mx.float32).mean().item()


def main():
    rnd = random.Random(7)
    mx.random.seed(7)
    model = BagClassifier(len(VOCAB), 24, len(CLASSES))
    mx.eval(model.parameters())

    stages = [("A frozen-emb", 0, True, 240), ("B full", 2, False, 240)]
    print(f"{'stage':<13}|{'step':>5} |{'lr':>8} |{'loss':>7} |{'train%':>7} |{'valid%':>7} |{'majority%':>9}")
    print("-" * 66)
    for name, cross, freeze_emb, steps in stages:
        Xtr, ytr = make_titles(4000, cross, rnd)
        Xva, yva = make_titles(800, cross, rnd)
        majority = 100.0 * max(np.bincount(np.array(yva), minlength=6)) / yva.size
        model.unfreeze()
        if freeze_emb:
            model.emb.freeze()
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, 0.15, 10), optim.cosine_decay(0.15, steps - 10, 0.02)], [10]
        )
        opt = optim.Adagrad(learning_rate=sched)
        step_fn = nn.value_and_grad(model, loss_fn)
        for step in range(steps):
            idx = mx.array(np.random.default_rng(step + 100 * cross).choice(4000, 256, replace=False))
            lr_now = opt.learning_rate.item() if step else 0.0
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            if step == 0:
                norms = {k: float(mx.linalg.norm(v).item()) for k, v in nn.utils.tree_flatten(grads)}
                print(f"# audit {name}: {len(norms)} trainable tensors, min grad norm {min(norms.values()):.2e}, "
                      f"emb grad {'present' if any(k.startswith('emb') for k in norms) else 'absent (frozen)'}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if step % 40 == 0 or step == steps - 1:
                print(f"{name:<13}|{step:>5} |{lr_now:>8.4f} |{loss.item():>7.4f} |"
                      f"{100 * accuracy(model, Xtr, ytr):>6.1f}% |{100 * accuracy(model, Xva, yva):>6.1f}% |{majority:>8.1f}%")
        print("-" * 66)
    print("shelving done: classes =", ", ".join(CLASSES))


if __name__ == "__main__":
    main()
