# Perry mill: which of 4 perry-pear styles (sweet / bittersweet / sharp / bittersharp)
# a juice sample came from, given 8 lab assays. 4-fold cross-validation, each fold
# trained from scratch with mixup and label smoothing; compiled step.
from functools import partial
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

STYLES = ["sweet", "bittersweet", "sharp", "bittersharp"]


def make_juice(n, rng):
    tannin = rng.lognormal(0.0, 0.6, n)
    acid = rng.lognormal(0.2, 0.5, n)
    brix = rng.normal(13, 1.8, n)
    sorbitol = rng.normal(2.5, 0.7, n) + 0.3 * (brix - 13)
    ph = 3.9 - 0.35 * np.log(acid) + rng.normal(0, 0.08, n)
    yan = rng.lognormal(4.5, 0.4, n)
    phenol = tannin * rng.uniform(0.8, 1.2, n)
    haze = rng.uniform(0, 1, n)
    cls = (tannin > 1.1).astype(int) + 2 * (acid > 1.35).astype(int)
    X = np.stack([np.log(tannin), np.log(acid), brix, sorbitol, ph, np.log(yan), np.log(phenol), haze], 1)
    X = X + rng.normal(0, 0.12, X.shape)
    return X.astype(np.float32), cls.astype(np.int32)


class PerryNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.head = nn.Linear(48, 4)

    def __call__(self, x):
        return self.head(self.body(x))



def onehot_np(y, smooth=0.1):
    t = np.full((len(y), 4), smooth / 4, np.float32)
    t[np.arange(len(y)), y] += 1 - smooth
    return t


def soft_ce(logits, t):
    return -(t * nn.log_softmax(logits, axis=-1)).sum(-1).mean()


def build_step(model, opt):
    def loss_fn(m, xa, xb, ta, tb, lam):
        x = lam * xa + (1 - lam) * xb
        t = lam * ta + (1 - lam) * tb
        return soft_ce(m(x), t)

    vg = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xa, xb, ta, tb, lam):
        loss, g = vg(model, xa, xb, ta, tb, lam)
        opt.update(model, g)
        return loss

    return vg, step


def evaluate(model, X, y):
    logits = model(X)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (mx.argmax(logits, -1) == y).astype(mx.float32).mean()
    return ce.item(), 100.0 * acc.item()


def main():
    rng = np.random.default_rng(11)
    X, y = make_juice(6000, rng)
    folds = np.array_split(rng.permutation(len(y)), 4)
    print("perry pear styles, %d samples, class counts %s" % (len(y), np.bincount(y).tolist()))
    print("chance cross-entropy %.3f nats" % np.log(4))
    results = []
    for k in range(4):
        t0 = time.time()
        va = folds[k]
        tr = np.concatenate([folds[j] for j in range(4) if j != k])
        mu, sd = X[tr].mean(0), X[tr].std(0)
        Xtr = mx.array((X[tr] - mu) / sd)
        Xva = mx.array((X[va] - mu) / sd)
        ytr_np = y[tr]
        Ttr = mx.array(onehot_np(ytr_np))
        yva = mx.array(y[va])
        mx.random.seed(100 + k)
        model = PerryNet()
        mx.eval(model.parameters())
        opt = optim.RMSprop(learning_rate=optim.step_decay(2e-3, 0.5, 300))
        vg, step = build_step(model, opt)
        if k == 0:
            one = mx.array(np.array(0.7, np.float32))
            _, g = vg(model, Xtr[:64], Xtr[64:128], Ttr[:64], Ttr[64:128], one)
            flat = tree_flatten(g)
            zero = [n for n, a in flat if float(mx.abs(a).max()) == 0]
            print("fold 1 first-batch gradient: %d leaves, zero leaves %s" % (len(flat), zero))
        print("--- fold %d/4: %d train, %d held out" % (k + 1, len(tr), len(va)))
        bs = 64
        for epoch in range(1, 7):
            perm = rng.permutation(len(tr))
            tot, n = 0.0, 0
            for i in range(0, len(perm) - bs + 1, bs):
                ia = perm[i:i + bs]
                ib = rng.permutation(ia)
                lam = mx.array(np.float32(rng.beta(0.4, 0.4)))
                a, b = mx.array(ia), mx.array(ib)
                loss = step(Xtr[a], Xtr[b], Ttr[a], Ttr[b], lam)
                mx.eval(model.state, opt.state, loss)
                tot += loss.item()
                n += 1
            ce, acc = evaluate(model, Xva, yva)
            print("  fold %d epoch %d  mixup loss %.3f  held-out ce %.3f  held-out accuracy %.1f%%"
                  % (k + 1, epoch, tot / n, ce, acc))
        results.append((ce, acc))
        print("  fold %d finished in %.1fs" % (k + 1, time.time() - t0))
    ces = np.array([r[0] for r in results])
    accs = np.array([r[1] for r in results])
    print("cross-validated ce %.3f +- %.3f, accuracy %.1f%% +- %.1f" % (ces.mean(), ces.std(), accs.mean(), accs.std()))


if __name__ == "__main__":
    main()
