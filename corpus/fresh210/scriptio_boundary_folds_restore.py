# Word-boundary tagger for "scriptio continua" (text written without spaces).
# A made-up lexicon is concatenated into 28-character strings; a small 1-D conv net
# tags each character with "a word starts here". The character embedding is a fixed
# random code book (frozen on purpose); only the conv stack and head train.
# 3-fold cross-validation, early stopping on validation loss with best-weight restore.
import random
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(3)
mx.random.seed(3)

ALPHA = "aeiklmnorstu"
LEX = set()
while len(LEX) < 45:
    n = random.choice([2, 3, 3, 4, 4, 5, 6])
    LEX.add("".join(random.choice(ALPHA) for _ in range(n)))
LEX = sorted(LEX)
L = 28


def make_line():
    s, tags = "", []
    while len(s) < L:
        w = random.choice(LEX)
        s += w
        tags += [1] + [0] * (len(w) - 1)
    return [ALPHA.index(c) for c in s[:L]], tags[:L]


DATA = [make_line() for _ in range(900)]
X_ALL = mx.array([d[0] for d in DATA])
Y_ALL = mx.array([d[1] for d in DATA], dtype=mx.float32)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(len(ALPHA), 12)
        self.c1 = nn.Conv1d(12, 32, kernel_size=7, padding=3)
        self.c2 = nn.Conv1d(32, 32, kernel_size=5, padding=2)
        self.out = nn.Linear(32, 1)

    def __call__(self, ids):
        h = nn.relu(self.c1(self.emb(ids)))
        h = nn.relu(self.c2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def f1(model, x, y):
    pred = (model(x) > 0).astype(mx.float32)
    tp = (pred * y).sum()
    prec = tp / mx.maximum(pred.sum(), 1)
    rec = tp / mx.maximum(y.sum(), 1)
    return (200 * prec * rec / mx.maximum(prec + rec, 1e-9)).item()


def bar(i, n, width=12):
    k = int(width * i / n)
    return "#" * k + "." * (width - k)


FOLDS, MAX_EP, PATIENCE, BS = 3, 30, 4, 50
idx = list(range(len(DATA)))
random.shuffle(idx)
fold_size = len(idx) // FOLDS
table = []
for fold in range(FOLDS):
    val_idx = mx.array(idx[fold * fold_size:(fold + 1) * fold_size])
    tr_list = idx[:fold * fold_size] + idx[(fold + 1) * fold_size:]
    xv, yv = X_ALL[val_idx], Y_ALL[val_idx]
    model = Tagger()
    model.emb.freeze()
    emb_before = mx.array(model.emb.weight)
    opt = optim.SGD(learning_rate=0.2, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)
    if fold == 0:
        _, g = vg(model, X_ALL[:BS], Y_ALL[:BS])
        norms = {k: round(float(mx.sqrt((v * v).sum())), 4) for k, v in tree_flatten(g)}
        print("grad-audit", " ".join(f"{k}={v}" for k, v in norms.items()), "(emb frozen, not listed)")
    best, best_ep, wait = float("inf"), 0, 0
    best_params = None
    for ep in range(1, MAX_EP + 1):
        random.shuffle(tr_list)
        tot = 0.0
        nb = len(tr_list) // BS
        for b in range(nb):
            bi = mx.array(tr_list[b * BS:(b + 1) * BS])
            loss, grads = vg(model, X_ALL[bi], Y_ALL[bi])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        vloss = loss_fn(model, xv, yv).item()
        vf1 = f1(model, xv, yv)
        mark = ""
        if vloss < best - 1e-4:
            best, best_ep, wait = vloss, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.trainable_parameters())
            mx.eval(best_params)
            mark = " *"
        else:
            wait += 1
        sys.stdout.write(f"fold {fold + 1}/{FOLDS} ep {ep:2d}/{MAX_EP} |{bar(ep, MAX_EP)}| "
                         f"loss={tot / nb:.4f} val={vloss:.4f} f1={vf1:5.1f}%{mark}\n")
        if wait >= PATIENCE:
            print(f"  early stop: no val improvement for {PATIENCE} epochs")
            break
    model.update(best_params)
    mx.eval(model.parameters())
    drift = mx.abs(model.emb.weight - emb_before).max().item()
    rf1, rl = f1(model, xv, yv), loss_fn(model, xv, yv).item()
    print(f"  restored epoch {best_ep}: val={rl:.4f} f1={rf1:.1f}%  frozen-emb max drift={drift:.1e}")
    table.append((fold + 1, best_ep, rl, rf1))

base = Y_ALL.mean().item()
print("\nfold | best_ep | val_bce | boundary_F1")
for r in table:
    print(f"{r[0]:4d} | {r[1]:7d} | {r[2]:.4f}  | {r[3]:6.1f}%")
print(f"mean |         | {sum(r[2] for r in table) / FOLDS:.4f}  | {sum(r[3] for r in table) / FOLDS:6.1f}%")
print(f"ref: always-'start' tagger F1 = {200 * base / (1 + base):.1f}%, prior BCE = "
      f"{-(base * mx.log(mx.array(base)) + (1 - base) * mx.log(mx.array(1 - base))).item():.4f}")
