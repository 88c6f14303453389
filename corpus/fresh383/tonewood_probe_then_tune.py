# Violin making: grade spruce tops (4 grades) from tap-tone readings.
# Stage A fits only the head while the body's learning rate is held at exactly 0;
# stage B warms the body up from 0 and decays it; the head's rate only decays.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
mx.random.seed(5)

def make(n):
    f0 = rng.normal(0, 1, (n, 8)).astype(np.float32)     # 8 tap-tone / density readings
    s = 1.2 * f0[:, 0] - 0.8 * f0[:, 1] * f0[:, 2] + 0.7 * np.tanh(2 * f0[:, 3]) + 0.5 * f0[:, 4] ** 2
    s = s + rng.logistic(0, 0.35, n)
    y = np.digitize(s, [-0.6, 0.4, 1.4]).astype(np.int32)
    return f0, y

Xtr, ytr = make(9000)
Xva, yva = make(2000)
Xtr, Xva, ytr_m, yva_m = map(mx.array, (Xtr, Xva, ytr, yva))

class TopGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 4)
    def __call__(self, x):
        return self.head(self.body(x))

model = TopGrader()
A_STEPS, WARM, TOTAL = 400, 150, 1800
body_lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.0, 1), optim.linear_schedule(0.0, 2e-3, WARM),
     optim.cosine_decay(2e-3, TOTAL - A_STEPS - WARM, 2e-5)],
    [A_STEPS, A_STEPS + WARM],
)
head_lr = optim.exponential_decay(0.05, 0.9985)
opt = optim.MultiOptimizer(
    [optim.AdamW(learning_rate=body_lr, weight_decay=1e-4),
     optim.SGD(learning_rate=head_lr, momentum=0.9)],
    [lambda path, p: path.startswith("body")],
)

def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

vg = nn.value_and_grad(model, loss_fn)

def evaluate():
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, yva_m, reduction="mean").item()
    err = (mx.argmax(logits, -1) != yva_m).astype(mx.float32).mean().item() * 100
    return ce, err

def body_vec():
    return np.concatenate([np.array(v).ravel() for _, v in nn.utils.tree_flatten(model.body.parameters())])

majority = 100 - 100 * np.bincount(np.array(ytr)).max() / len(ytr)
print(f"tops: 9000 train / 2000 valid, grade shares {np.round(np.bincount(np.array(ytr))/len(ytr)*100,1).tolist()} %")
print(f"majority-grade valid error {majority:.1f}%   untrained: ce {evaluate()[0]:.3f}, err {evaluate()[1]:.1f}%")
print(f"{'step':>5} {'stage':>5} {'lr_body':>9} {'lr_head':>9} {'train_ce[nats]':>14} {'valid_ce[nats]':>14} {'valid_err[%]':>12} {'body_drift[L2]':>14} {'t[s]':>5}")
b0 = body_vec()
B, losses = 96, []
t0 = time.time()
for step in range(1, TOTAL + 1):
    idx = mx.array(rng.integers(0, 9000, B))
    s = mx.array(step - 1)
    lb, lh = body_lr(s).item(), head_lr(s).item()
    loss, grads = vg(model, Xtr[idx], ytr_m[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    losses.append(loss.item())
    if step % 150 == 0 or step in (1, A_STEPS):
        ce, err = evaluate()
        stage = "A" if step <= A_STEPS else "B"
        drift = float(np.linalg.norm(body_vec() - b0))
        print(f"{step:5d} {stage:>5} {lb:9.2e} {lh:9.2e} {np.mean(losses):14.4f} {ce:14.4f} {err:12.1f} {drift:14.4f} {time.time()-t0:5.1f}")
        losses = []
ce, err = evaluate()
print(f"final: valid ce {ce:.3f} nats, valid error {err:.1f}% (majority-grade {majority:.1f}%)")
