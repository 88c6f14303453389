"""Festival banner loom: progressive distillation of a tile sampler.

A teacher x0-prediction diffusion model (cosine alpha/sigma, continuous time) is
fitted on 4x4 banner motif tiles.  A student is then distilled in stages
(Salimans & Ho): each stage halves the number of DDIM sampling steps, so the
per-stage loss starts over at a higher value every time the step count halves.
Sample quality is compared against the teacher at full steps and the teacher
run naively at the student's step count.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
mx.random.seed(11)
D = 16


def make_banners(n):
    yy, xx = np.mgrid[0:4, 0:4].astype(np.float32)
    fam = rng.integers(0, 3, n)
    out = np.zeros((n, 4, 4), np.float32)
    for i in range(n):
        a = rng.uniform(0.7, 1.0)
        if fam[i] == 0:
            out[i] = a * np.where((yy % 2) == 0, 1.0, -1.0)
        elif fam[i] == 1:
            out[i] = a * np.where(((yy + xx) % 2) == 0, 1.0, -1.0)
        else:
            out[i] = a * (np.abs(yy - 1.5) + np.abs(xx - 1.5) - 2.0)
    out += 0.08 * rng.standard_normal(out.shape).astype(np.float32)
    return out.reshape(n, D)


def alpha_sigma(t):
    return mx.cos(0.5 * math.pi * t), mx.sin(0.5 * math.pi * t)


def tfeat(t):
    fr = mx.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])[None, :]
    a = t[:, None] * fr * math.pi
    return mx.concatenate([mx.sin(a), mx.cos(a)], axis=1)


class X0Net(nn.Module):
    def __init__(self, w=96):
        super().__init__()
        self.l1 = nn.Linear(D + 12, w)
        self.l2 = nn.Linear(w, w)
        self.l3 = nn.Linear(w, D)

    def __call__(self, z, t):
        h = nn.silu(self.l1(mx.concatenate([z, tfeat(t)], axis=1)))
        h = nn.silu(self.l2(h)) + h
        return self.l3(h)


def ddim_step(net, z, t, s):
    a_t, s_t = alpha_sigma(t)
    a_s, s_s = alpha_sigma(s)
    x0 = mx.clip(net(z, t), -1.6, 1.6)
    eps = (z - a_t[:, None] * x0) / mx.maximum(s_t[:, None], 1e-4)
    return a_s[:, None] * x0 + s_s[:, None] * eps


def sample(net, n, steps, seed):
    z = mx.random.normal((n, D), key=mx.random.key(seed))
    for i in range(steps, 0, -1):
        t = mx.full((n,), i / steps)
        s = mx.full((n,), (i - 1) / steps)
        z = ddim_step(net, z, t, s)
    mx.eval(z)
    return np.array(z)


def moment_gap(a, b):
    mu = np.sum((a.mean(0) - b.mean(0)) ** 2)
    cov = np.linalg.norm(np.cov(a.T) - np.cov(b.T))
    return float(mu + cov)


def weighted_x0_loss(net, z, t, target):
    a, s = alpha_sigma(t)
    w = mx.clip((a * a) / mx.maximum(s * s, 1e-8), 1.0, 20.0)
    return mx.mean(w[:, None] * (net(z, t) - target) ** 2)


def copy_net(src):
    dst = X0Net()
    dst.update(src.parameters())
    mx.eval(dst.parameters())
    return dst


def main():
    t0 = time.time()
    data = mx.array(make_banners(6000))
    held = make_banners(1500)
    bs = 128

    teacher = X0Net()
    opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 700, 5e-5))

    def teacher_loss(net, x, t, e):
        a, s = alpha_sigma(t)
        z = a[:, None] * x + s[:, None] * e
        return weighted_x0_loss(net, z, t, x)

    vg = nn.value_and_grad(teacher, teacher_loss)
    print("teacher fit (x0-prediction, SNR weights clipped to [1, 20])")
    for it in range(1, 701):
        x = data[mx.array(rng.integers(0, 6000, bs))]
        t = mx.array(rng.uniform(0, 1, bs).astype(np.float32))
        loss, g = vg(teacher, x, t, mx.random.normal((bs, D)))
        opt.update(teacher, g)
        mx.eval(teacher.parameters(), opt.state, loss)
        if it % 175 == 0:
            print(f"  teacher step {it:4d} loss {loss.item():.4f}")

    n_eval = 1500
    ref_full = moment_gap(sample(teacher, n_eval, 32, 5), held)
    floor = moment_gap(make_banners(n_eval), held)
    print(f"teacher @32 steps: moment gap to held-out {ref_full:.4f} (fresh real tiles: {floor:.4f})")

    student_src = teacher
    teacher_steps = 32
    for stage in range(1, 4):
        stu_steps = teacher_steps // 2
        student = copy_net(student_src)
        frozen_t = student_src
        sopt = optim.Adam(learning_rate=5e-4)

        def distill_loss(net, z, t, target):
            return weighted_x0_loss(net, z, t, target)

        svg = nn.value_and_grad(student, distill_loss)
        print(f"stage {stage}: {teacher_steps} -> {stu_steps} steps")
        for it in range(1, 201):
            x = data[mx.array(rng.integers(0, 6000, bs))]
            i = mx.array(rng.integers(1, stu_steps + 1, bs).astype(np.float32))
            t = i / stu_steps
            tm = t - 0.5 / stu_steps
            tl = t - 1.0 / stu_steps
            a, s = alpha_sigma(t)
            z = a[:, None] * x + s[:, None] * mx.random.normal((bs, D))
            z1 = ddim_step(frozen_t, z, t, tm)
            z2 = ddim_step(frozen_t, z1, tm, tl)
            a2, s2 = alpha_sigma(tl)
            ratio = (s2 / s)[:, None]
            target = (z2 - ratio * z) / (a2[:, None] - ratio * a[:, None])
            target = mx.stop_gradient(target)
            loss, g = svg(student, z, t, target)
            sopt.update(student, g)
            mx.eval(student.parameters(), sopt.state, loss)
            if it in (1, 100, 200):
                print(f"  distill step {it:4d} loss {loss.item():.4f}")
        gap_s = moment_gap(sample(student, n_eval, stu_steps, 5), held)
        gap_naive = moment_gap(sample(teacher, n_eval, stu_steps, 5), held)
        print(f"  @{stu_steps} steps: student gap {gap_s:.4f} | original teacher run at {stu_steps} steps {gap_naive:.4f}"
              f" | teacher @32 {ref_full:.4f}")
        student_src = student
        teacher_steps = stu_steps
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
