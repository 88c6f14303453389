"""Deep & Cross Network (DCN-v2 style) for click prediction on a synthetic ad log.

Input: 6 categorical fields (embedded, 6 dims each) + 4 dense features.
Cross tower: x_{l+1} = x0 * (W_l x_l + b_l) + x_l   (3 layers, full-rank W)
Deep tower : 2-layer ReLU MLP; both towers are concatenated into a logit.
Logged as a gnuplot data block so the curve can be plotted directly.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
CARD = [40, 25, 12, 60, 8, 30]
EMB = 6
N_DENSE = 4
# ground-truth per-category effects, shared by train and validation draws
EFF = [rng.normal(0, 0.6, c) for c in CARD]


def synth(n):
    cats = np.stack([rng.integers(0, c, n) for c in CARD], 1)
    dense = rng.normal(size=(n, N_DENSE)).astype(np.float32)
    # hidden "true" effects: per-category offsets + a multiplicative
    # cross between field 0 and field 3 and between dense0 and field 2
    eff = EFF
    z = sum(eff[i][cats[:, i]] for i in range(len(CARD)))
    z += 1.2 * eff[0][cats[:, 0]] * eff[3][cats[:, 3]] * 2
    z += 0.8 * dense[:, 0] * np.sign(eff[2][cats[:, 2]])
    z += 0.5 * dense[:, 1] - 1.5
    p = 1 / (1 + np.exp(-z))
    y = (rng.random(n) < p).astype(np.float32)
    return cats.astype(np.int32), dense, y


class DCN(nn.Module):
    def __init__(self, n_cross=3, hidden=64):
        super().__init__()
        self.embs = [nn.Embedding(c, EMB) for c in CARD]
        d = EMB * len(CARD) + N_DENSE
        self.cross = [nn.Linear(d, d) for _ in range(n_cross)]
        self.deep = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(d + hidden, 1)

    def __call__(self, cats, dense):
        x0 = mx.concatenate([e(cats[:, i]) for i, e in enumerate(self.embs)] + [dense], axis=1)
        xl = x0
        for lin in self.cross:
            xl = x0 * lin(xl) + xl
        h = self.deep(x0)
        return self.head(mx.concatenate([xl, h], axis=1)).squeeze(-1)


def loss_fn(model, cats, dense, y):
    return nn.losses.binary_cross_entropy(model(cats, dense), y, with_logits=True, reduction="mean")


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty_like(order, dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def main():
    ctr, dtr, ytr = synth(60000)
    cva, dva, yva = synth(20000)
    Cva, Dva = mx.array(cva), mx.array(dva)
    model = DCN()
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=4e-3)
    vg = nn.value_and_grad(model, loss_fn)

    b0 = slice(0, 512)
    _, g0 = vg(model, mx.array(ctr[b0]), mx.array(dtr[b0]), mx.array(ytr[b0]))
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0]
    assert not dead, dead

    base_rate = ytr.mean()
    const_ll = -(yva * np.log(base_rate) + (1 - yva) * np.log(1 - base_rate)).mean()
    print(f"# DCN click model, train ctr={base_rate:.3f}, constant-predictor val logloss={const_ll:.4f}")
    print("$dcn << EOD")
    print("# epoch  train_logloss  val_logloss  val_auc")
    bs = 256
    for epoch in range(1, 9):
        perm = rng.permutation(len(ytr))
        tot, nb = 0.0, 0
        for i in range(0, len(perm), bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, mx.array(ctr[idx]), mx.array(dtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        logits = model(Cva, Dva)
        vll = nn.losses.binary_cross_entropy(logits, mx.array(yva), with_logits=True, reduction="mean").item()
        va = auc(np.array(logits), yva)
        print(f"{epoch:7d}  {tot / nb:13.4f}  {vll:11.4f}  {va:7.4f}")
    print("EOD")
    print("plot $dcn using 1:3 with lines title 'val logloss'")


if __name__ == "__main__":
    main()
