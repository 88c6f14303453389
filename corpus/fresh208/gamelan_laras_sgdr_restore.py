# Gamelan workshop: classify which laras/pathet set a bronze bar set was tuned to
# (4 classes) from 10 cents-deviation readings. Warm restarts, each cycle's lr
# warms up from exactly 0; early stopping keeps the best weights and restores them.
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

mx.random.seed(11)
K, F = 4, 10
centers = 18.0 * mx.random.normal((K, F))


def make(n):
    y = mx.random.randint(0, K, (n,))
    x = centers[y] + 35.0 * mx.random.normal((n, F))     # workshop noise in cents
    return x / 50.0, y


Xtr, Ytr = make(12000)
Xva, Yva = make(800)
major = max(range(K), key=lambda c: int(mx.sum(Ytr == c).item()))
baseline_acc = 100.0 * mx.mean(Yva == major).item()


class LarasNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(F, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, K)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


model = LarasNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return mx.mean(nn.losses.cross_entropy(m(x), y))


vg = nn.value_and_grad(model, loss_fn)


def evaluate():
    logits = model(Xva)
    return loss_fn(model, Xva, Yva).item(), 100.0 * mx.mean(mx.argmax(logits, -1) == Yva).item()


BS, EPOCHS_PER_CYCLE, CYCLES, PATIENCE = 120, 8, 4, 9
steps_per_epoch = Xtr.shape[0] // BS
best = {"val_loss": math.inf, "where": None}
best_params = None
bad_epochs = 0
stopped = False
for cycle in range(1, CYCLES + 1):
    peak = 3e-3 / cycle
    total = EPOCHS_PER_CYCLE * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, steps_per_epoch), optim.cosine_decay(peak, total - steps_per_epoch)],
        [steps_per_epoch])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    for epoch in range(1, EPOCHS_PER_CYCLE + 1):
        perm = mx.random.permutation(Xtr.shape[0])
        run = 0.0
        first_lr = opt.learning_rate.item()
        for i in range(steps_per_epoch):
            idx = perm[i * BS:(i + 1) * BS]
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        vl, va = evaluate()
        rec = {"cycle": cycle, "epoch": epoch, "lr_at_epoch_start": round(first_lr, 6),
               "train_xent": round(run / steps_per_epoch, 4), "val_xent": round(vl, 4),
               "val_acc_pct": round(va, 2), "majority_baseline_pct": round(baseline_acc, 2)}
        if vl < best["val_loss"] - 1e-4:
            best = {"val_loss": vl, "where": [cycle, epoch]}
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            bad_epochs = 0
            rec["best"] = True
        else:
            bad_epochs += 1
        print(json.dumps(rec))
        if bad_epochs >= PATIENCE:
            stopped = True
            break
    if stopped:
        break

model.update(best_params)
mx.eval(model.parameters())
vl, va = evaluate()
nparam = sum(v.size for _, v in tree_flatten(model.parameters()))
print(json.dumps({"summary": "restored best", "from": best["where"], "early_stop": stopped,
                  "val_xent": round(vl, 4), "val_acc_pct": round(va, 2),
                  "majority_baseline_pct": round(baseline_acc, 2), "params": nparam}))
