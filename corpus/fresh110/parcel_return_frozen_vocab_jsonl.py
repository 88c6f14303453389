# Parcel-return prediction for a small web shop: product-category embeddings come
# from an earlier model and are kept FROZEN; only the tabular tower + head train.
# Learning rate warms up from 0. One JSON object per evaluation.
import json
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_CAT, EMB, N_NUM = 40, 8, 5


def synth(n, rng, cat_effect):
    cat = rng.integers(0, N_CAT, n)
    num = rng.normal(size=(n, N_NUM)).astype(np.float32)
    logit = cat_effect[cat] + 1.2 * num[:, 0] - 0.8 * num[:, 1] + 0.5 * num[:, 2] * num[:, 3]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return cat.astype(np.int32), num, y


class ReturnModel(nn.Module):
    def __init__(self, pretrained):
        super().__init__()
        self.cat_emb = nn.Embedding(N_CAT, EMB)
        self.cat_emb.weight = mx.array(pretrained)
        self.tower = nn.Sequential(nn.Linear(EMB + N_NUM, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 1)

    def __call__(self, cat, num):
        h = mx.concatenate([self.cat_emb(cat), num], axis=-1)
        return self.head(self.tower(h)).squeeze(-1)


def loss_fn(model, cat, num, y):
    return nn.losses.binary_cross_entropy(model(cat, num), y, with_logits=True, reduction="mean")


def evaluate(model, cat, num, y):
    logits = model(mx.array(cat), mx.array(num))
    loss = loss_fn(model, mx.array(cat), mx.array(num), mx.array(y)).item()
    pred = np.array(logits) > 0
    return loss, 100.0 * float(np.mean(pred != (y > 0.5)))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    cat_effect = rng.normal(scale=1.0, size=N_CAT)
    # "pretrained" table: first coordinate carries the category effect
    pretrained = rng.normal(scale=0.3, size=(N_CAT, EMB)).astype(np.float32)
    pretrained[:, 0] = cat_effect
    tr = synth(60000, rng, cat_effect)
    va = synth(3000, rng, cat_effect)

    model = ReturnModel(pretrained)
    model.cat_emb.freeze()
    mx.eval(model.parameters())
    frozen_before = np.array(model.cat_emb.weight)

    bs, epochs = 64, 8
    steps_per_epoch = len(tr[2]) // bs
    total = epochs * steps_per_epoch
    warm = 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    # gradient audit at step 0: every trainable leaf must receive gradient
    _, g = vg(model, mx.array(tr[0][:bs]), mx.array(tr[1][:bs]), mx.array(tr[2][:bs]))
    zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
    print(json.dumps({"event": "grad_audit", "trainable_leaves": len(tree_flatten(g)),
                      "zero_grad_leaves": zero, "frozen": ["cat_emb.weight"]}))

    vl, ve = evaluate(model, *va)
    print(json.dumps({"event": "eval", "step": 0, "val_bce": round(vl, 4), "val_error_pct": round(ve, 2)}))
    t0, step = time.time(), 0
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(tr[2]))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            lr_now = float(opt.learning_rate)  # lr used for this update (0.0 at step 0)
            loss, grads = vg(model, mx.array(tr[0][idx]), mx.array(tr[1][idx]), mx.array(tr[2][idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            step += 1
        vl, ve = evaluate(model, *va)
        print(json.dumps({"event": "eval", "epoch": ep, "step": step, "lr_last": round(lr_now, 6),
                          "train_bce": round(tot / steps_per_epoch, 4), "val_bce": round(vl, 4),
                          "val_error_pct": round(ve, 2), "secs": round(time.time() - t0, 1)}))
    unchanged = bool(np.array_equal(frozen_before, np.array(model.cat_emb.weight)))
    print(json.dumps({"event": "done", "frozen_table_unchanged": unchanged}))


if __name__ == "__main__":
    main()
