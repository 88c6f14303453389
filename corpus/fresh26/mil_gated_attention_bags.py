"""Multiple-instance learning with gated attention pooling (Ilse et al. 2018).

Each bag holds 4..16 instances (padded to 16 with a mask); a bag is positive
iff at least one instance is a "witness" (its features are shifted along a
hidden direction; witness shifts are weak so single instances are ambiguous).
Only bag labels are used for training. Every 2 epochs one JSON object is
printed with bag-level train BCE (noisy, dropout on), held-out bag accuracy and
the attention hit-rate: how often the highest-attention instance of a
held-out positive bag is a real witness (never trained on directly).
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D, MAXN = 12, 16


def make_bags(n_bags, seed):
    mx.random.seed(seed)
    direction = mx.ones((D,)) / math.sqrt(D)
    sizes = mx.random.randint(4, MAXN + 1, (n_bags,))
    mask = (mx.arange(MAXN)[None, :] < sizes[:, None]).astype(mx.float32)
    x = mx.random.normal((n_bags, MAXN, D))
    y = (mx.random.uniform(shape=(n_bags,)) < 0.5).astype(mx.float32)
    n_wit = mx.random.randint(1, 4, (n_bags,))
    wit = (mx.arange(MAXN)[None, :] < n_wit[:, None]).astype(mx.float32) * y[:, None]
    # shuffle witness positions inside the valid part of each bag
    keys = mx.random.uniform(shape=(n_bags, MAXN)) + (1 - mask) * 10.0
    order = mx.argsort(keys, axis=1)
    wit_pos = mx.zeros((n_bags, MAXN))
    wit_pos = mx.put_along_axis(wit_pos, order, wit, axis=1)
    x = x + 2.0 * wit_pos[..., None] * direction
    return x * mask[..., None], mask, y, wit_pos


class GatedAttentionMIL(nn.Module):
    def __init__(self, hidden=64, att=32):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, hidden), nn.ReLU())
        self.att_v = nn.Linear(hidden, att)
        self.att_u = nn.Linear(hidden, att)
        self.att_w = nn.Linear(att, 1, bias=False)  # softmax is shift-invariant: a bias would get no gradient
        self.cls = nn.Linear(hidden, 1)

    def __call__(self, x, mask):
        h = self.enc(x)                                         # (B, N, H)
        a = self.att_w(mx.tanh(self.att_v(h)) * mx.sigmoid(self.att_u(h))).squeeze(-1)
        a = mx.where(mask > 0, a, -1e9)
        alpha = mx.softmax(a, axis=-1)                          # (B, N)
        z = (alpha[..., None] * h).sum(1)
        return self.cls(z).squeeze(-1), alpha


def loss_fn(model, x, mask, y):
    logits, _ = model(x, mask)
    return nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")


def max_projection_reference(xtr, mtr, ytr, xva, mva, yva):
    """Hand-made baseline that knows the hidden direction: threshold the max projection."""
    direction = mx.ones((D,)) / math.sqrt(D)

    def score(x, m):
        return mx.where(m > 0, x @ direction, -1e9).max(-1)

    str_, sva = score(xtr, mtr), score(xva, mva)
    best_t, best_acc = 0.0, 0.0
    for t in [i * 0.05 for i in range(20, 80)]:
        acc = ((str_ > t).astype(mx.float32) == ytr).astype(mx.float32).mean().item()
        if acc > best_acc:
            best_t, best_acc = t, acc
    return ((sva > best_t).astype(mx.float32) == yva).astype(mx.float32).mean().item()


def main():
    xtr, mtr, ytr, _ = make_bags(2000, 1)
    xva, mva, yva, wva = make_bags(800, 2)
    ref = max_projection_reference(xtr, mtr, ytr, xva, mva, yva)
    print(json.dumps({"reference_val_acc_known_direction": round(ref, 4)}), flush=True)
    mx.random.seed(0)
    model = GatedAttentionMIL()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-4, weight_decay=1e-4)
    step = nn.value_and_grad(model, loss_fn)
    bs, n = 32, xtr.shape[0]
    t0 = time.time()
    for epoch in range(1, 19):
        model.train()
        perm = mx.random.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss, grads = step(model, xtr[idx], mtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        if epoch % 2 == 0 or epoch == 1:
            model.eval()
            logits, alpha = model(xva, mva)
            acc = ((logits > 0).astype(mx.float32) == yva).astype(mx.float32).mean().item()
            top = mx.argmax(alpha, axis=-1)
            hit = mx.take_along_axis(wva, top[:, None], axis=1).squeeze(-1)
            hit_rate = (hit * yva).sum().item() / max(yva.sum().item(), 1)
            print(json.dumps({"epoch": epoch, "train_bce": round(tot / cnt, 4), "val_bag_acc": round(acc, 4),
                              "val_attention_hit": round(hit_rate, 4), "t": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
