"""Tram operations: classify stop dwell as short / normal / long / very long
(4 classes) from 8 synthetic stop-event features.

Stage 1 trains a wide teacher. Stage 2 freezes the teacher on purpose and
distils it into a small student (soft targets at temperature T plus hard labels).
Reports are printed as YAML-like blocks.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)

def make(n):
    board = rng.poisson(6, n); alight = rng.poisson(5, n)
    doors = rng.integers(2, 5, n); wheelchair = (rng.random(n) < 0.07).astype(float)
    crowd = rng.uniform(0, 1, n); rain = (rng.random(n) < 0.25).astype(float)
    hour = rng.uniform(5, 24, n); lowfloor = rng.integers(0, 2, n)
    dwell = 8 + 2.2 * (board + alight) / doors * (1 + 1.5 * crowd ** 2) + 25 * wheelchair \
        + 3 * rain - 2 * lowfloor + 4 * np.sin((hour - 8) / 24 * 2 * np.pi) + rng.normal(0, 3, n)
    y = np.digitize(dwell, [14, 22, 34])
    X = np.stack([board, alight, doors, wheelchair, crowd, rain,
                  np.sin(hour / 24 * 2 * np.pi), lowfloor], 1).astype(np.float32)
    return X, y.astype(np.int32)

Xtr, ytr = make(16000); Xte, yte = make(3000)
m, s = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - m) / s; Xte = (Xte - m) / s
Xte_m = mx.array(Xte)

def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.GELU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)

def report(block, **kv):
    print(f"- {block}:")
    for k, v in kv.items():
        print(f"    {k}: {v}")

def test_metrics(net):
    logits = net(Xte_m)
    ce = nn.losses.cross_entropy(logits, mx.array(yte), reduction="mean").item()
    pred = np.array(mx.argmax(logits, axis=1))
    return ce, 100.0 * float((pred == yte).mean())

def grad_audit(g, tag):
    leaves = tree_flatten(g)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    report(f"{tag}_grad_check", leaves=len(leaves), zero_leaves=zero)

def train(net, loss_fn, opt, epochs, bs, tag):
    vg = nn.value_and_grad(net, loss_fn)
    step = 0
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(Xtr))
        tot, nb = 0.0, 0
        for i in range(0, len(perm) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, g = vg(mx.array(Xtr[idx]), mx.array(ytr[idx]))
            if step == 0:
                grad_audit(g, tag)
            opt.update(net, g)
            mx.eval(net.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1; step += 1
        if ep in (1, 2, 4) or ep % 4 == 0 or ep == epochs:
            ce, acc = test_metrics(net)
            report(f"{tag}_epoch", epoch=ep, train_loss=round(tot / nb, 4),
                   test_ce=round(ce, 4), test_acc_pct=round(acc, 2),
                   secs=round(time.time() - t0, 1))

mx.random.seed(0)
teacher = mlp([8, 128, 128, 4])
ce0, acc0 = test_metrics(teacher)
report("data", train=len(Xtr), test=len(Xte),
       class_share_pct=[round(100 * float((ytr == c).mean()), 1) for c in range(4)],
       untrained_teacher_ce=round(ce0, 4))

def teacher_loss(x, y):
    return nn.losses.cross_entropy(teacher(x), y, reduction="mean")

train(teacher, teacher_loss, optim.Adam(learning_rate=1e-3), 6, 64, "teacher")
teacher.freeze()
teacher.eval()
frozen_copy = tree_map(lambda a: a, teacher.parameters())

T = 3.0
student = mlp([8, 24, 4])
ce0, acc0 = test_metrics(student)
report("student_init", params=sum(v.size for _, v in tree_flatten(student.parameters())),
       test_ce=round(ce0, 4), test_acc_pct=round(acc0, 2))

def distil_loss(x, y):
    s_logits = student(x)
    t_logits = mx.stop_gradient(teacher(x))
    p_t = mx.softmax(t_logits / T, axis=-1)
    log_p_s = s_logits / T - mx.logsumexp(s_logits / T, axis=-1, keepdims=True)
    soft = -(p_t * log_p_s).sum(-1).mean() * T * T
    hard = nn.losses.cross_entropy(s_logits, y, reduction="mean")
    return 0.7 * soft + 0.3 * hard

train(student, distil_loss, optim.RMSprop(learning_rate=3e-3), 12, 128, "student")
drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
            zip(tree_flatten(teacher.parameters()), tree_flatten(frozen_copy)))
t_ce, t_acc = test_metrics(teacher); s_ce, s_acc = test_metrics(student)
report("done", teacher_acc_pct=round(t_acc, 2), student_acc_pct=round(s_acc, 2),
       teacher_max_change_during_distillation=drift,
       note="student train_loss is the distillation objective (soft CE x T^2 + hard CE), not test CE")
