# Tannery: grade of a finished hide (A / B / C / reject) from ten crust-stage measurements.
# Keeps the best weights on disk, rolls back to them and halves the learning rate when the
# held-out loss stops improving, and scores the best weights in a fresh model at the end.
import os, tempfile, time, shutil
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
GRADES = ["A", "B", "C", "reject"]

def make(n):
    X = rng.normal(size=(n, 10)).astype(np.float32)
    # thickness sd, grain scars, tick bites, brand marks, moisture, chrome %, shrink temp, ...
    score = (1.2 * X[:, 1] + 0.9 * X[:, 2] + 0.6 * X[:, 3] * (X[:, 3] > 0)
             - 0.5 * X[:, 6] + 0.4 * X[:, 0] * X[:, 4] + 0.3 * np.sin(2 * X[:, 5]))
    score = score + rng.logistic(0, 0.45, n)
    y = np.digitize(score, [-0.6, 0.5, 1.6]).astype(np.int32)
    return X, y

Xtr, ytr = make(6000)
Xva, yva = make(30000)
Xte, yte = make(30000)
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
Xva_m, yva_m = mx.array(Xva), mx.array(yva)
Xte_m, yte_m = mx.array(Xte), mx.array(yte)


class GradeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        return self.head(self.body(x))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def score(model, X, Y):
    tot, hit = 0.0, 0
    for i in range(0, X.shape[0], 1000):
        lg = model(X[i:i + 1000])
        tot += nn.losses.cross_entropy(lg, Y[i:i + 1000], reduction="sum").item()
        hit += (mx.argmax(lg, 1) == Y[i:i + 1000]).sum().item()
    return tot / X.shape[0], 100.0 * hit / X.shape[0]


mx.random.seed(5)
model = GradeNet()
mx.eval(model.parameters())
lr = 0.08
opt = optim.SGD(learning_rate=lr, momentum=0.9)
step_fn = nn.value_and_grad(model, ce)

ckdir = tempfile.mkdtemp(prefix="hides_")
best_path = os.path.join(ckdir, "best.safetensors")
prior = np.bincount(ytr, minlength=4) / len(ytr)
prior_ce = float(-(np.log(prior[yva])).mean())
v0, a0 = score(model, Xva_m, yva_m)
print("run:")
print(f"  train_hides: {len(ytr)}\n  valid_hides: {len(yva)}\n  grade_shares: {np.round(prior, 3).tolist()}")
print(f"  class_prior_valid_ce: {prior_ce:.4f}\n  untrained_valid_ce: {v0:.4f}")

best, bad, t0 = float("inf"), 0, time.perf_counter()
for epoch in range(1, 25):
    perm = rng.permutation(len(ytr))
    losses = []
    for b in range(0, len(perm) - 99, 100):
        idx = mx.array(perm[b:b + 100])
        loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
        if epoch == 1 and b == 0:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
            print(f"  first_step_grad_leaves: {len(leaves)}\n  first_step_zero_leaves: {zero}")
            print("epochs:")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    vce, vacc = score(model, Xva_m, yva_m)
    action = "none"
    if vce < best - 1e-4:
        best, bad = vce, 0
        model.save_weights(best_path)
        action = "saved best"
    else:
        bad += 1
        if bad >= 2:
            model.load_weights(best_path)
            lr *= 0.5
            opt.learning_rate = lr
            bad = 0
            action = f"restored best, lr -> {lr:g}"
    print(f"  - epoch: {epoch}\n    lr: {float(opt.learning_rate.item()):.4g}\n    train_ce: {np.mean(losses):.4f}"
          f"\n    valid_ce: {vce:.4f}\n    valid_acc_pct: {vacc:.2f}\n    best_valid_ce: {best:.4f}\n    action: {action}")

final = GradeNet()
final.load_weights(best_path)
mx.eval(final.parameters())
tce, tacc = score(final, Xte_m, yte_m)
print("result:")
print(f"  best_valid_ce: {best:.4f}\n  test_ce_best_weights: {tce:.4f}\n  test_acc_pct: {tacc:.2f}")
print(f"  class_prior_test_ce: {float(-(np.log(prior[yte])).mean()):.4f}\n  seconds: {time.perf_counter() - t0:.1f}")
shutil.rmtree(ckdir)
