# Stone quarry: block grade (3 classes) from 6 core-drill readings, three quarry faces arrive in turn.
# Synaptic Intelligence (online path-integral importance) keeps the earlier faces.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)
W_true = rng.normal(size=(6, 3))

def face(shift, rot, n):
    x = rng.normal(size=(n, 6)).astype(np.float32)
    R = np.linalg.qr(rng.normal(size=(6, 6)))[0] if rot else np.eye(6)
    logits = (x @ R) @ W_true + shift
    y = (logits + 0.3 * rng.normal(size=logits.shape)).argmax(1)
    return mx.array(x), mx.array(y.astype(np.int32))

faces = [face(np.array([0.0, 0.0, 0.0]), False, 3000),
         face(np.array([0.4, -0.3, 0.0]), True, 3000),
         face(np.array([-0.2, 0.5, -0.2]), True, 3000)]
tests = [(fx[:600], fy[:600]) for fx, fy in faces]
trains = [(fx[600:], fy[600:]) for fx, fy in faces]

class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 3)
    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))

mx.random.seed(0)
model = Grader()
mx.eval(model.parameters())
C, XI = 0.5, 1e-3
omega = tree_map(mx.zeros_like, model.trainable_parameters())
anchor = tree_map(lambda p: p, model.trainable_parameters())

def loss_fn(m, x, y, omega, anchor):
    ce = nn.losses.cross_entropy(m(x), y, reduction="mean")
    pen = sum(mx.sum(o * (p - a) ** 2) for (_, o), (_, p), (_, a) in
              zip(tree_flatten(omega), tree_flatten(m.trainable_parameters()), tree_flatten(anchor)))
    return ce + C * pen, ce

grad_fn = nn.value_and_grad(model, loss_fn)

def accuracy(x, y):
    return float(mx.mean(model(x).argmax(1) == y).item()) * 100

steps_per_face, bs = 300, 64
acc_matrix = []
t0 = time.time()
for k, (x, y) in enumerate(trains):
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 50),
                                  optim.cosine_decay(3e-3, steps_per_face - 50, 1e-4)], [50])
    opt = optim.Adam(learning_rate=sched)
    w_start = tree_map(lambda p: p, model.trainable_parameters())
    path = tree_map(mx.zeros_like, w_start)
    print(f"-- face {k + 1}/3 opens ({x.shape[0]} cores) --")
    for step in range(1, steps_per_face + 1):
        idx = mx.array(rng.integers(0, x.shape[0], bs))
        before = model.trainable_parameters()
        (tot, ce), g = grad_fn(model, x[idx], y[idx], omega, anchor)
        opt.update(model, g)
        after = model.trainable_parameters()
        path = tree_map(lambda s, gg, a, b: s - gg * (a - b), path, g, after, before)
        mx.eval(model.parameters(), opt.state, path, tot)
        if k == 0 and step == 1:
            nz = sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(g))
            print(f"   grad leaves nonzero {nz}/{len(tree_flatten(g))}  lr at step 1 = {float(sched(mx.array(0))):.5f}")
        if step % 100 == 0:
            accs = "  ".join(f"f{j + 1} {accuracy(*tests[j]):5.1f}%" for j in range(k + 1))
            print(f"   step {step:3d}  ce {ce.item():.4f}  total {tot.item():.4f}  {accs}")
    delta = tree_map(lambda a, b: a - b, model.trainable_parameters(), w_start)
    omega = tree_map(lambda o, s, d: o + mx.maximum(s, 0.0) / (d * d + XI), omega, path, delta)
    anchor = tree_map(lambda p: p, model.trainable_parameters())
    mx.eval(omega, anchor)
    acc_matrix.append([accuracy(*tests[j]) for j in range(3)])

print("accuracy after each face (rows) on each face's test cores (cols):")
for k, row in enumerate(acc_matrix):
    print(f"   after f{k + 1}: " + "  ".join(f"{v:5.1f}" if j <= k else "    ." for j, v in enumerate(row)))
forget = np.mean([max(acc_matrix[i][j] for i in range(j, 2)) - acc_matrix[2][j] for j in range(2)])
print(f"mean final accuracy {np.mean(acc_matrix[2]):.1f}%   avg forgetting {forget:.1f} pts   chance 33.3%   secs {time.time() - t0:.1f}")
