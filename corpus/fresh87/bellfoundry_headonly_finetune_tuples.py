# Bell foundry: pitch error (cents) of a cast bell from wall thickness, diameter, tin %, pour temp,
# cooling hours, mould moisture. A network is pretrained on foundry A's records (silent phase),
# then its body is FROZEN on purpose and only the head is fine-tuned on foundry B (slightly
# different alloy offset), with a learning-rate warm-up that starts at exactly 0.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

gen = np.random.default_rng(2024)

def foundry(n, offset, slope):
    X = gen.normal(size=(n, 6)).astype(np.float32)
    core = 14 * np.tanh(0.8 * X[:, 0] - 0.5 * X[:, 1]) + 6 * X[:, 2] * X[:, 3] - 4 * np.sin(2 * X[:, 4]) + 2 * X[:, 5] ** 2
    y = core + offset + slope * X[:, 2] + gen.normal(0, 1.0, n)
    return X, y.astype(np.float32)

XA, yA = foundry(12000, 0.0, 0.0)
XB, yB = foundry(600, 5.0, 3.0)
XBv, yBv = foundry(2000, 5.0, 3.0)
SCALE = 10.0


class BellNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.head = nn.Linear(96, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1) * SCALE


def mse(net, x, y):
    return nn.losses.mse_loss(net(x), y)


def mae(net, X, y):
    return float(np.abs(np.array(net(mx.array(X))) - y).mean())


def run_epochs(net, opt, X, y, epochs, bs, seed, report=None):
    vg = nn.value_and_grad(net, mse)
    Xm, ym = mx.array(X), mx.array(y)
    n = len(y)
    step = 0
    r = np.random.default_rng(seed)
    for ep in range(epochs):
        order = r.permutation(n)
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(order[i:i + bs])
            loss, g = vg(net, Xm[idx], ym[idx])
            if report is not None and step == 0:
                report("grads", g)
            opt.update(net, g)
            mx.eval(net.parameters(), opt.state, loss)
            step += 1
            if report is not None:
                report("step", (step, loss.item(), float(opt.learning_rate)))
    return step


t0 = time.time()
mx.random.seed(5)
net = BellNet()
print(("setup", "foundry_A_rows", len(yA), "foundry_B_rows", len(yB), "B_valid_rows", len(yBv)))
# --- silent pretraining on foundry A ---
def pre_report(kind, payload):
    if kind == "grads":
        flat = tree_flatten(payload)
        print(("pretrain_grad_check", "leaves", len(flat), "all_zero", [k for k, v in flat if float(mx.abs(v).max()) == 0.0]))

n_pre = run_epochs(net, optim.Adam(learning_rate=2e-3), XA, yA, 12, 128, seed=0, report=pre_report)
print(("pretrained", "steps", n_pre, "A_mae_cents", round(mae(net, XA[:2000], yA[:2000]), 3),
       "B_valid_mae_cents", round(mae(net, XBv, yBv), 3), "secs", round(time.time() - t0, 1)))

# --- head-only fine-tune on foundry B ---
net.body.freeze()
body_before = tree_map(lambda a: mx.array(np.array(a)), net.body.parameters())
warm = 40
sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-2, warm), optim.cosine_decay(1e-2, 560, 1e-4)], [warm])
opt = optim.Adam(learning_rate=sched)
win = []

def report(kind, payload):
    if kind == "grads":
        flat = tree_flatten(payload)
        zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
        print(("grad_check", "trainable_leaves", [k for k, _ in flat], "all_zero", zero))
        return
    step, loss, lr_next = payload
    win.append(loss)
    if step == 1 or step % 60 == 0:
        print(("finetune", "step", step, "lr_used", round(lr_next, 5),
               "train_mse_window", round(float(np.mean(win)), 3),
               "B_valid_mae_cents", round(mae(net, XBv, yBv), 3), "secs", round(time.time() - t0, 1)))
        win.clear()

print(("finetune", "step", 0, "lr_used", 0.0, "train_mse_window", None,
       "B_valid_mae_cents", round(mae(net, XBv, yBv), 3), "secs", round(time.time() - t0, 1)))
n_ft = run_epochs(net, opt, XB, yB, 40, 40, seed=1, report=report)
drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in zip(tree_flatten(net.body.parameters()), tree_flatten(body_before)))
print(("done", "finetune_steps", n_ft, "body_max_drift", drift, "noise_floor_mae_cents", round(float(np.sqrt(2 / np.pi)), 3),
       "secs", round(time.time() - t0, 1)))
