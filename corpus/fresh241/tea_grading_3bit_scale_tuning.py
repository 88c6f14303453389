"""Tea blending room: leaf-grade classifier squeezed to 3 bits.

The float grader is fitted first. It is then packed to 3-bit affine codes
(group 32) and only the per-group scales and offsets are tuned, by distilling
the float grader's softened outputs; the packed integer codes stay frozen on
purpose. Half way through, the tuned scales and the optimizer state are written
to disk, everything is rebuilt from scratch, and the run continues from there.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

GRADES = ["OP", "FOP", "GFOP", "TGFOP", "BOP", "fannings", "dust"]
BANDS = 32
T = 2.0

rng = np.random.default_rng(21)
centres = rng.normal(0, 1, (len(GRADES), BANDS)).astype(np.float32)
mix = rng.normal(0, 0.4, (BANDS, BANDS)).astype(np.float32)


def leaf_scans(n, seed):
    r = np.random.default_rng(seed)
    y = r.integers(0, len(GRADES), n)
    moist = r.uniform(-1, 1, (n, 1)).astype(np.float32)
    x = centres[y] + 0.9 * r.normal(0, 1, (n, BANDS)).astype(np.float32)
    x = np.tanh(x @ mix) + 0.3 * moist
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


def grader():
    return nn.Sequential(nn.Linear(BANDS, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(),
                         nn.Linear(128, len(GRADES)))


def acc(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item() * 100


t0 = time.time()
xtr, ytr = leaf_scans(8000, 1)
xva, yva = leaf_scans(2000, 2)

mx.random.seed(0)
teacher = grader()
opt = optim.Adam(learning_rate=2e-3)
ce = lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean")
step = nn.value_and_grad(teacher, ce)
r = np.random.default_rng(0)
for it in range(500):
    idx = mx.array(r.integers(0, 8000, 128))
    l, g = step(teacher, xtr[idx], ytr[idx])
    opt.update(teacher, g)
    mx.eval(teacher.parameters(), opt.state)
teacher.freeze()
float_acc = acc(teacher, xva, yva)
soft_va = mx.softmax(teacher(xva) / T, axis=-1)


def packed_student():
    s = grader()
    s.update(teacher.parameters())
    nn.quantize(s, group_size=32, bits=3)
    s.freeze()
    s.unfreeze(keys=["scales", "biases"])
    return s


def distill(model, x, p_t):
    logq = nn.log_softmax(model(x) / T, axis=-1)
    return (T * T) * mx.mean(mx.sum(p_t * (mx.log(p_t + 1e-12) - logq), axis=-1))


student = packed_student()
base_acc = acc(student, xva, yva)
base_kl = distill(student, xva, soft_va).item()
codes0 = [np.array(v) for k, v in tree_flatten(student.parameters()) if k.endswith("weight")]
print(f"float grader val acc {float_acc:.2f}% | plain 3-bit {base_acc:.2f}% (kl {base_kl:.4f}) "
      f"| tuned values {sum(v.size for _, v in tree_flatten(student.trainable_parameters()))}")

STEPS, WARM, HALF = 400, 40, 200
sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, WARM),
                              optim.linear_schedule(1e-3, 0.0, STEPS - WARM)], [WARM])


def new_opt():
    return optim.Adam(learning_rate=sched)


opt = new_opt()
ckpt = os.path.join(tempfile.mkdtemp(), "scales")
r = np.random.default_rng(7)
it = 0
while it < STEPS:
    it += 1
    idx = mx.array(r.integers(0, 8000, 256))
    xb = xtr[idx]
    pt = mx.softmax(teacher(xb) / T, axis=-1)
    l, g = nn.value_and_grad(student, distill)(student, xb, pt)
    opt.update(student, g)
    mx.eval(student.parameters(), opt.state)
    if it % 50 == 0:
        print(f"[{it:3d}/{STEPS}] lr={sched(opt.step).item():.2e} kl_batch={l.item():.4f} "
              f"kl_val={distill(student, xva, soft_va).item():.4f} acc_val={acc(student, xva, yva):.2f}%")
    if it == HALF:
        mx.save_safetensors(ckpt + ".model.safetensors", dict(tree_flatten(student.trainable_parameters())))
        mx.save_safetensors(ckpt + ".opt.safetensors", dict(tree_flatten(opt.state)))
        print(f"checkpoint written at step {it}; rebuilding from the float grader")
        del student, opt
        student = packed_student()
        student.load_weights(ckpt + ".model.safetensors", strict=False)
        opt = new_opt()
        opt.state = tree_unflatten(list(mx.load(ckpt + ".opt.safetensors").items()))
        print(f"resumed at optimizer step {opt.step.item()}  kl_val={distill(student, xva, soft_va).item():.4f}")

codes1 = [np.array(v) for k, v in tree_flatten(student.parameters()) if k.endswith("weight")]
same = all(np.array_equal(a, b) for a, b in zip(codes0, codes1))
print("summary: float %.2f%% | 3-bit untuned %.2f%% | 3-bit tuned %.2f%% | val kl %.4f -> %.4f | packed codes unchanged: %s | %.1fs"
      % (float_acc, base_acc, acc(student, xva, yva), base_kl, distill(student, xva, soft_va).item(), same, time.time() - t0))
