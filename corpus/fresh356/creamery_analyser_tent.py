# Creamery milk grading: a 4-grade classifier is trained on the lab analyser
# (labelled), then adapted online to the farm-gate analyser (no labels) by
# entropy minimisation on the normalisation affine parameters only.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
BANDS, GRADES, LATENT = 12, 4, 4
centres = rng.normal(0.0, 1.1, (GRADES, LATENT))
mixing = rng.normal(0.0, 1.0, (LATENT, BANDS)) / 1.6
gain = np.linspace(1.7, 0.6, BANDS)
offset = np.linspace(-0.9, 1.0, BANDS)


def draw(n, farm_gate):
    y = rng.integers(0, GRADES, n)
    z = centres[y] + 0.6 * rng.normal(size=(n, LATENT))
    x = np.tanh(z @ mixing) + 0.08 * rng.normal(size=(n, BANDS))
    if farm_gate:
        x = x * gain + offset
    return x.astype(np.float32), y.astype(np.int32)


lab_x, lab_y = draw(8000, False)
lab_vx, lab_vy = draw(1500, False)
gate_x, gate_y = draw(6400, True)   # labels kept aside, used only for scoring


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn_in = nn.BatchNorm(BANDS)
        self.fc1 = nn.Linear(BANDS, 64)
        self.bn1 = nn.BatchNorm(64)
        self.fc2 = nn.Linear(64, 64)
        self.bn2 = nn.BatchNorm(64)
        self.out = nn.Linear(64, GRADES)

    def __call__(self, x):
        h = self.bn_in(x)
        h = nn.relu(self.bn1(self.fc1(h)))
        h = nn.relu(self.bn2(self.fc2(h)))
        return self.out(h)


def accuracy(logits, y):
    return float(mx.mean(mx.argmax(logits, axis=1) == mx.array(y)).item()) * 100


mx.random.seed(3)
model = Grader()
steps_per_epoch = len(lab_x) // 100
EPOCHS = 8
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 80),
     optim.cosine_decay(3e-3, EPOCHS * steps_per_epoch - 80, 1e-5)], [80])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def ce_loss(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


ce_grad = nn.value_and_grad(model, ce_loss)

print("---")
print("run: creamery grading")
print(f"lab_rows: {len(lab_x)}")
print(f"gate_rows: {len(gate_x)}")
print(f"grade_mix_pct: {[round(float(np.mean(lab_y == g)) * 100, 1) for g in range(GRADES)]}")

t0 = time.perf_counter()
model.train()
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(len(lab_x))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = mx.array(perm[i * 100:(i + 1) * 100])
        xb, yb = mx.array(lab_x)[idx], mx.array(lab_y)[idx]
        lr_used = float(opt.learning_rate.item()) if epoch > 1 or i > 0 else 0.0
        loss, grads = ce_grad(model, xb, yb)
        if epoch == 1 and i == 0:
            flat = tree_flatten(grads)
            quiet = [k for k, g in flat if float(mx.abs(g).sum().item()) == 0.0]
            print("---")
            print("stage: source_grad_check")
            print(f"leaves: {len(flat)}")
            print(f"all_zero_leaves: {quiet}")
            print(f"first_lr: {lr_used}")
        opt.update(model, grads)
        mx.eval(model.state, opt.state, loss)
        tot += loss.item()
    model.eval()
    val_acc = accuracy(model(mx.array(lab_vx)), lab_vy)
    model.train()
    print("---")
    print("stage: source")
    print(f"epoch: {epoch}")
    print(f"lr_end: {opt.learning_rate.item():.2e}")
    print(f"train_ce: {tot / steps_per_epoch:.4f}")
    print(f"lab_val_acc_pct: {val_acc:.1f}")
    print(f"secs: {time.perf_counter() - t0:.1f}")

# reference points on the farm-gate stream before any adaptation
model.eval()
source_only = accuracy(model(mx.array(gate_x)), gate_y)
model.train()
stat_only = []
for i in range(0, len(gate_x), 64):
    stat_only.append(accuracy(model(mx.array(gate_x[i:i + 64])), gate_y[i:i + 64]))
print("---")
print("stage: reference")
print(f"gate_acc_source_only_pct: {source_only:.1f}")
print(f"gate_acc_batch_stats_only_pct: {np.mean(stat_only):.1f}")

# online adaptation: only the BatchNorm scale/shift move
snapshot = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
model.freeze()
for m in (model.bn_in, model.bn1, model.bn2):
    m.unfreeze(keys=["weight", "bias"], recurse=False)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"adapted_param_count: {n_train}")


def entropy_loss(m, x):
    logp = nn.log_softmax(m(x), axis=1)
    return -mx.mean(mx.sum(mx.exp(logp) * logp, axis=1))


ent_grad = nn.value_and_grad(model, entropy_loss)
tta_opt = optim.SGD(learning_rate=0.02, momentum=0.9)
order = rng.permutation(len(gate_x))
hits, seen, window = 0, 0, []
for b in range(len(gate_x) // 64):
    idx = order[b * 64:(b + 1) * 64]
    xb = mx.array(gate_x[idx])
    loss, grads = ent_grad(model, xb)
    # predictions are scored on the batch before the update, as served
    preds = mx.argmax(model(xb), axis=1)
    tta_opt.update(model, grads)
    mx.eval(model.state, tta_opt.state, loss, preds)
    hits += int(mx.sum(preds == mx.array(gate_y[idx])).item())
    seen += len(idx)
    window.append(loss.item())
    if (b + 1) % 20 == 0:
        print("---")
        print("stage: farm_gate_adapt")
        print(f"batches: {b + 1}")
        print(f"mean_entropy_nats: {np.mean(window):.4f}")
        print(f"running_gate_acc_pct: {hits / seen * 100:.1f}")
        window = []

drift = {k: float(np.abs(np.array(v) - snapshot[k]).max())
         for k, v in tree_flatten(model.parameters())}
moved = sorted(k for k, d in drift.items() if d > 0)
still = max(d for k, d in drift.items() if k.split(".")[0] in ("fc1", "fc2", "out"))
print("---")
print("stage: done")
print(f"moved_leaves: {moved}")
print(f"max_linear_drift: {still:.1e}")
print(f"final_gate_acc_pct: {hits / seen * 100:.1f}")
print(f"secs: {time.perf_counter() - t0:.1f}")
