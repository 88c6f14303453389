import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

# Hive-acoustics few-shot: each task = 5 colonies, label order shuffled per task.
rng = np.random.default_rng(3)
N_COL, D, WAY, SHOT, QRY = 60, 16, 5, 4, 8
centers = rng.normal(0, 1.0, (N_COL, D)).astype(np.float32)
mix = rng.normal(0, 0.6, (D, D)).astype(np.float32)
train_cols, test_cols = np.arange(45), np.arange(45, 60)


def sample_task(pool):
    cols = rng.choice(pool, WAY, replace=False)
    xs, ys, xq, yq = [], [], [], []
    for lab, c in enumerate(cols):
        s = np.tanh((centers[c] + 0.7 * rng.normal(size=(SHOT + QRY, D))) @ mix)
        xs.append(s[:SHOT]); xq.append(s[SHOT:])
        ys += [lab] * SHOT; yq += [lab] * QRY
    f = lambda a: mx.array(np.concatenate(a).astype(np.float32))
    return f(xs), mx.array(ys), f(xq), mx.array(yq)


class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 32)

    def __call__(self, x):
        return nn.relu(self.l2(nn.relu(self.l1(x))))


mx.random.seed(3)
body = Body()
head0 = {"w": mx.zeros((32, WAY)), "b": mx.zeros((WAY,))}
INNER_LR, INNER_STEPS = 0.5, 5


def head_loss(h, f, y):
    return nn.losses.cross_entropy(f @ h["w"] + h["b"], y, reduction="mean")


def adapt(h, f, y, steps):
    for _ in range(steps):
        g = mx.grad(head_loss)(h, f, y)
        h = tree_map(lambda p, gp: p - INNER_LR * gp, h, g)
    return h


def meta_loss(params, tasks):
    body.update(params["body"])
    tot = 0.0
    for xs, ys, xq, yq in tasks:
        h = adapt(params["head"], body(xs), ys, INNER_STEPS)
        tot = tot + head_loss(h, body(xq), yq)
    return tot / len(tasks)


def evaluate(params, n=60, steps=INNER_STEPS):
    body.update(params["body"])
    accs = []
    for _ in range(n):
        xs, ys, xq, yq = sample_task(test_cols)
        h = adapt(params["head"], body(xs), ys, steps)
        accs.append(((body(xq) @ h["w"] + h["b"]).argmax(-1) == yq).mean().item())
    return 100 * float(np.mean(accs))


params = {"body": body.parameters(), "head": head0}
META_STEPS, WARM, BATCH = 300, 40, 4
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                              optim.cosine_decay(2e-3, META_STEPS - WARM)], [WARM])
opt = optim.Adam(learning_rate=sched)
vg = mx.value_and_grad(meta_loss)

print(f"chance={100 / WAY:.1f}%  unadapted_acc={evaluate(params, steps=0):.1f}%  "
      f"start_acc={evaluate(params):.1f}%")
run = []
for it in range(1, META_STEPS + 1):
    tasks = [sample_task(train_cols) for _ in range(BATCH)]
    loss, g = vg(params, tasks)
    if it == 1:
        leaves = [v for _, v in tree_flatten(g)]
        print(f"grad_leaves={len(leaves)} zero_leaves={sum(int(mx.all(v == 0).item()) for v in leaves)}")
    params = opt.apply_gradients(g, params)
    mx.eval(params, opt.state)
    run.append(loss.item())
    if it % 50 == 0:
        print(f"it={it:4d}; lr={opt.learning_rate.item():.2e}; q_loss={np.mean(run[-50:]):.3f}; "
              f"heldout_acc={evaluate(params):.1f}%; unadapted={evaluate(params, 30, 0):.1f}%")
print(f"final heldout_acc={evaluate(params, 200):.1f}% (chance {100 / WAY:.1f}%)")
