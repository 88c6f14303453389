"""Nightjar roost survey: which of 3 call types (churr / wing-clap / flight call)
a 1-second recording holds, from 10 acoustic summary features.

Labels come from a noisy annotator pool, so accuracy tops out well below 100%.
The classifier keeps dropout on at evaluation (20 stochastic passes) and uses
the predictive entropy to hand the least certain 20% of clips back to a human.
Training is interrupted after epoch 6, checkpointed in memory, rebuilt and resumed.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(5)
mx.random.seed(5)

D, C = 10, 3
centres = rng.normal(0, 1.0, (C, D)).astype(np.float32)


def make(n):
    y = rng.integers(0, C, n)
    x = centres[y] + rng.normal(0, 1.1, (n, D)).astype(np.float32)
    flip = rng.random(n) < 0.12                         # annotator slips
    y_obs = np.where(flip, rng.integers(0, C, n), y)
    return mx.array(x.astype(np.float32)), mx.array(y_obs.astype(np.int32))


Xtr, Ytr = make(6000)
Xva, Yva = make(1500)
majority = float(np.bincount(np.array(Ytr)).max() / Ytr.shape[0])


class CallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, C)
        self.drop = nn.Dropout(0.3)

    def __call__(self, x):
        x = self.drop(nn.gelu(self.l1(x)))
        x = self.drop(nn.gelu(self.l2(x)))
        return self.out(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


EPOCHS, BATCH, WARM = 12, 100, 30
steps_per_epoch = Xtr.shape[0] // BATCH


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, EPOCHS * steps_per_epoch - WARM, 5e-5)],
        [WARM])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-3)


def mc_predict(model, x, passes=20):
    model.train()                                   # dropout stays active on purpose
    probs = mx.stack([mx.softmax(model(x), axis=-1) for _ in range(passes)])
    p = probs.mean(axis=0)
    ent = -(p * mx.log(p + 1e-9)).sum(axis=-1)
    return p, ent


def evaluate(model, x, y):
    p, ent = mc_predict(model, x)
    pred = mx.argmax(p, axis=-1)
    correct = (pred == y).astype(mx.float32)
    acc = correct.mean().item()
    keep = int(0.8 * x.shape[0])
    order = mx.argsort(ent)[:keep]
    acc_kept = correct[order].mean().item()
    nll = -mx.log(p[mx.arange(y.shape[0]), y] + 1e-9).mean().item()
    return acc, acc_kept, nll, ent.mean().item()


def run_epochs(model, opt, first, last):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last):
        model.train()
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, g = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        acc, acc_kept, nll, ent = evaluate(model, Xva, Yva)
        print(f"epoch {ep + 1:2d} train_ce {tot / steps_per_epoch:.4f} val_nll {nll:.4f} "
              f"val_acc {acc:.3f} (majority {majority:.3f}) acc@80%kept {acc_kept:.3f} mean_entropy {ent:.3f}")


t0 = time.time()
model = CallNet()
mx.eval(model.parameters())
opt = make_opt()
print(f"train={Xtr.shape[0]} val={Xva.shape[0]} classes={C} label-slip rate=0.12 warmup={WARM} steps from lr 0")
run_epochs(model, opt, 0, 6)

# checkpoint (kept in memory), throw everything away, rebuild and resume
ckpt = {
    "weights": [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())],
    "opt_state": tree_map(lambda v: mx.array(v) if isinstance(v, mx.array) else v, opt.state),
}
del model, opt
print("checkpoint taken after epoch 6; rebuilding model and optimizer and resuming")

model = CallNet()
model.load_weights(ckpt["weights"])
opt = make_opt()
opt.state = ckpt["opt_state"]
mx.eval(model.parameters())
run_epochs(model, opt, 6, EPOCHS)

acc, acc_kept, nll, ent = evaluate(model, Xva, Yva)
print(f"final val_acc {acc:.3f} vs majority {majority:.3f}; after handing back 20% least certain: {acc_kept:.3f}")
print(f"done in {time.time() - t0:.1f}s")
