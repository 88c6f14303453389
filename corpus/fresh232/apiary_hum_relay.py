"""Apiary hive-sound embeddings: a frozen 'field' encoder (teacher) maps 20 acoustic
features of a hive recording to 32-d embeddings; a small student is distilled to 8-d
with a relational distance loss plus a triplet hinge on teacher-mined triplets.
Run in two sessions with a checkpoint in between. Rows are CSV on stdout."""
import csv, json, os, sys, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

out = csv.writer(sys.stdout)
rng = np.random.default_rng(11)
N_COL, F = 12, 20
centres = rng.normal(size=(N_COL, F)).astype(np.float32) * 1.6


def hives(n):
    c = rng.integers(0, N_COL, n)
    x = centres[c] + rng.normal(size=(n, F)).astype(np.float32)
    return x, c


xtr, ctr = hives(4000)
xva, cva = hives(800)


class Encoder(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.silu(l(x))
        return self.layers[-1](x)


mx.random.seed(3)
teacher = Encoder([F, 128, 128, 32])
teacher.freeze()
t_snapshot = [(k, np.array(v)) for k, v in tree_flatten(teacher.parameters())]
T_va = teacher(mx.array(xva))


def pdist(z):
    sq = mx.sum(z * z, axis=1)
    d2 = mx.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 1e-9)
    return mx.sqrt(d2)


def loss_fn(student, xb, anc, pos, neg):
    t = mx.stop_gradient(teacher(xb))
    s = student(xb)
    dt, ds = pdist(t), pdist(s)
    rel = nn.losses.smooth_l1_loss(ds / mx.mean(ds), dt / mx.mean(dt), reduction="mean")
    tri = nn.losses.triplet_loss(s[anc], s[pos], s[neg], margin=0.2, reduction="mean")
    return rel + 0.5 * tri, (rel, tri)


def mine(xb):
    d = np.array(pdist(teacher(mx.array(xb))))
    np.fill_diagonal(d, np.inf)
    pos = d.argmin(1)
    np.fill_diagonal(d, -np.inf)
    neg = np.array([rng.choice(np.argsort(row)[-32:]) for row in d])
    return mx.arange(len(xb)), mx.array(pos), mx.array(neg)


def overlap_at5(z):
    dz, dt = np.array(pdist(z)), np.array(pdist(T_va))
    np.fill_diagonal(dz, np.inf); np.fill_diagonal(dt, np.inf)
    nz, nt = np.argsort(dz, 1)[:, :5], np.argsort(dt, 1)[:, :5]
    return 100.0 * np.mean([len(set(a) & set(b)) / 5 for a, b in zip(nz, nt)])


BS, EPOCHS, WARM = 128, 10, 60
steps_per_epoch = len(xtr) // BS
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, EPOCHS * steps_per_epoch - WARM, 2e-5)], [WARM])


def build():
    student = Encoder([F, 64, 8])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.9)
    return student, opt


def run_epochs(student, opt, first, last):
    vg = nn.value_and_grad(student, loss_fn)
    for epoch in range(first, last):
        t0 = time.time()
        perm = rng.permutation(len(xtr))
        tot = rel_s = tri_s = 0.0
        for i in range(steps_per_epoch):
            xb = xtr[perm[i * BS:(i + 1) * BS]]
            lr_now = opt.learning_rate.item() if opt.state else 0.0
            anc, pos, neg = mine(xb)
            (loss, (rel, tri)), grads = vg(student, mx.array(xb), anc, pos, neg)
            if epoch == 0 and i == 0:
                g = tree_flatten(grads)
                out.writerow(["gradcheck", len(g), f"{min(float(mx.abs(v).max()) for _, v in g):.2e}", f"lr_first={lr_now}"])
            opt.update(student, grads)
            mx.eval(student.parameters(), opt.state, loss)
            tot += loss.item(); rel_s += rel.item(); tri_s += tri.item()
        n = steps_per_epoch
        out.writerow(["epoch", epoch + 1, f"{opt.learning_rate.item():.2e}", f"{tot/n:.4f}", f"{rel_s/n:.4f}",
                      f"{tri_s/n:.4f}", f"{overlap_at5(student(mx.array(xva))):.1f}", f"{time.time()-t0:.2f}"])
        sys.stdout.flush()


out.writerow(["kind", "epoch", "lr", "loss", "rel", "triplet", "nn_overlap5_pct", "secs"])
proj = mx.array(rng.normal(size=(F, 8)).astype(np.float32))
out.writerow(["baseline", "random_projection", "", "", "", "", f"{overlap_at5(mx.array(xva) @ proj):.1f}", ""])
student, opt = build()
out.writerow(["baseline", "untrained_student", "", "", "", "", f"{overlap_at5(student(mx.array(xva))):.1f}", ""])

ckpt = tempfile.mkdtemp()
run_epochs(student, opt, 0, 4)
student.save_weights(os.path.join(ckpt, "student.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
json.dump({"epoch": 4}, open(os.path.join(ckpt, "meta.json"), "w"))
ref = overlap_at5(student(mx.array(xva)))
del student, opt

student, opt = build()
student.load_weights(os.path.join(ckpt, "student.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
start = json.load(open(os.path.join(ckpt, "meta.json")))["epoch"]
out.writerow(["resume", start, f"{opt.learning_rate.item():.2e}", "", "", "", f"{overlap_at5(student(mx.array(xva))):.1f}", f"ref={ref:.1f}"])
run_epochs(student, opt, start, EPOCHS)
drift = max(float(np.abs(np.array(v) - s).max()) for (k, v), (_, s) in zip(tree_flatten(teacher.parameters()), t_snapshot))
out.writerow(["done", EPOCHS, "", "", "", "", f"{overlap_at5(student(mx.array(xva))):.1f}", f"teacher_drift={drift}"])
