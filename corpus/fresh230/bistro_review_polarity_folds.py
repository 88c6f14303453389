"""3-class sentiment for short synthetic bistro reviews.

Embedding + masked mean pooling + MLP head, class-weighted cross entropy.
3-fold CV; each fold: stage "head" (embeddings frozen), then stage "full"
(embeddings unfrozen, new AdamW whose lr warms up from exactly 0).
"""
import json
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

POS = "delicious lovely friendly superb fresh cozy tasty perfect charming crisp".split()
NEG = "bland rude cold stale greasy slow dirty soggy noisy overpriced".split()
NEU = "table menu waiter plate soup bread wine dinner lunch place the a was and we our ordered had".split()
VOCAB = ["<pad>"] + POS + NEG + NEU
IDX = {w: i for i, w in enumerate(VOCAB)}
LABELS = {0: "negative", 1: "mixed", 2: "positive"}
MAXLEN = 14


def make_review(rng):
    n_pos = rng.choice([0, 0, 1, 1, 2, 2, 3])
    n_neg = rng.choice([0, 0, 0, 1, 1, 2, 3])
    words = rng.sample(POS, n_pos) + rng.sample(NEG, n_neg)
    words += [rng.choice(NEU) for _ in range(rng.randint(3, MAXLEN - len(words)))]
    rng.shuffle(words)
    score = n_pos - n_neg
    label = 2 if score >= 1 else (0 if score <= -1 else 1)
    ids = [IDX[w] for w in words][:MAXLEN]
    return ids + [0] * (MAXLEN - len(ids)), label


rng = random.Random(2024)
data = [make_review(rng) for _ in range(1800)]
X = mx.array([d[0] for d in data])
Y = mx.array([d[1] for d in data])


class ReviewClassifier(nn.Module):
    def __init__(self, vocab, dim=24, hidden=32, n_cls=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, hidden)
        self.out = nn.Linear(hidden, n_cls)

    def __call__(self, ids):
        mask = (ids != 0).astype(mx.float32)[..., None]
        h = self.embed(ids) * mask
        pooled = h.sum(axis=1) / mx.maximum(mask.sum(axis=1), 1.0)
        return self.out(nn.gelu(self.proj(pooled)))


def weighted_ce(model, ids, y, cw):
    logits = model(ids)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    w = cw[y]
    return (ce * w).sum() / w.sum()


def macro_f1(pred, y):
    f1s = []
    for c in range(3):
        tp = mx.sum((pred == c) & (y == c)).item()
        fp = mx.sum((pred == c) & (y != c)).item()
        fn = mx.sum((pred != c) & (y == c)).item()
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / 3


def run_stage(model, opt, stage, fold, steps, tr_idx, va_idx, cw, batch=48):
    grad_fn = nn.value_and_grad(model, weighted_ce)
    n = tr_idx.shape[0]
    for step in range(1, steps + 1):
        sel = tr_idx[mx.random.randint(0, n, (batch,))]
        loss, grads = grad_fn(model, X[sel], Y[sel], cw)
        if step == 1:
            norms = {k: round(mx.linalg.norm(v).item(), 5) for k, v in tree_flatten(grads)}
            print(json.dumps({"fold": fold, "stage": stage, "audit": "grad_norms", **norms}))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == 1:
            pred = mx.argmax(model(X[va_idx]), axis=1)
            yv = Y[va_idx]
            acc = mx.mean(pred == yv).item()
            print(json.dumps({
                "fold": fold, "stage": stage, "step": step,
                "lr": round(float(opt.learning_rate.item()), 6),
                "train_wce": round(loss.item(), 4),
                "val_acc_pct": round(100 * acc, 1),
                "val_macro_f1": round(macro_f1(pred, yv), 4),
                "majority_acc_pct": round(100 * mx.mean(yv == 2).item(), 1),
            }))


def main():
    mx.random.seed(11)
    t0 = time.time()
    n = X.shape[0]
    folds = mx.split(mx.random.permutation(n), 3)
    summary = []
    for k in range(3):
        va_idx = folds[k]
        tr_idx = mx.concatenate([folds[j] for j in range(3) if j != k])
        counts = mx.array([mx.sum(Y[tr_idx] == c).item() for c in range(3)], dtype=mx.float32)
        cw = counts.sum() / (3 * counts)
        print(f"# fold {k}: train {tr_idx.shape[0]} val {va_idx.shape[0]} "
              f"class weights {[round(v, 3) for v in cw.tolist()]} labels {LABELS}")
        model = ReviewClassifier(len(VOCAB))
        mx.eval(model.parameters())

        model.embed.freeze()
        head_opt = optim.AdamW(learning_rate=4e-3, weight_decay=0.01)
        run_stage(model, head_opt, "head", k, 120, tr_idx, va_idx, cw)

        model.unfreeze()
        warm = optim.linear_schedule(0.0, 3e-3, 40)
        decay = optim.cosine_decay(3e-3, 160, end=1e-4)
        full_opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [40]),
                               weight_decay=0.01)
        run_stage(model, full_opt, "full", k, 200, tr_idx, va_idx, cw)

        pred = mx.argmax(model(X[va_idx]), axis=1)
        f1 = macro_f1(pred, Y[va_idx])
        summary.append(f1)
    print(json.dumps({"cv_macro_f1": [round(f, 4) for f in summary],
                      "mean": round(sum(summary) / 3, 4),
                      "chance_macro_f1": 0.333, "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
