"""Navigation school: grade a sextant sight (4 grades) from 6 readings.

The school's graded sights cannot leave the archive, only the grading model can.
So a small student is distilled WITHOUT any real inputs: a generator invents
readings on which teacher and student disagree (data-free adversarial
distillation, Fang et al. 2019), and the student learns to match the teacher's
logits there.  Half of every student batch is plain standard-normal readings
(the archive publishes only that the readings are standardised), the other
half comes from the generator.  The generator maximises the disagreement, so its loss is the
negative of the student's loss.  Real readings are used only to score.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

t_start = time.time()
rng = np.random.default_rng(4)
GRADES = ["good", "fair", "poor", "reject"]
N_FEAT, N_CLASS, Z_DIM = 6, 4, 8

# readings: horizon sharpness, sea state, index error, limb contact time,
# observer fatigue, altitude of body (all standardised)
A = rng.normal(size=(N_FEAT, N_CLASS))


def make(n):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    score = x @ A + 0.8 * np.tanh(x[:, [0]] * x[:, [1]]) + rng.normal(size=(n, N_CLASS)) * 0.35
    return x, score.argmax(1).astype(np.int32)


x_archive, y_archive = make(5000)
x_test, y_test = make(2000)
xt_m, yt_m = mx.array(x_test), mx.array(y_test)
majority = np.bincount(y_archive, minlength=N_CLASS).max() / len(y_archive)


def acc(model):
    return float(mx.mean(mx.argmax(model(xt_m), axis=1) == yt_m).item())


# ---------------- teacher: fitted inside the archive ----------------
mx.random.seed(1)
teacher = nn.Sequential(nn.Linear(N_FEAT, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                        nn.Linear(128, N_CLASS))
t_opt = optim.Adam(learning_rate=3e-3)
t_grad = nn.value_and_grad(teacher, lambda m, x, y: mx.mean(nn.losses.cross_entropy(m(x), y)))
xa, ya = mx.array(x_archive), mx.array(y_archive)
for ep in range(6):
    perm = mx.array(np.random.default_rng(ep).permutation(len(y_archive)))
    for i in range(0, len(y_archive), 100):
        idx = perm[i:i + 100]
        _, g = t_grad(teacher, xa[idx], ya[idx])
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state)
teacher.eval()
teacher.freeze()
teacher_acc = acc(teacher)
del xa, ya  # from here on no real training inputs are touched


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(Z_DIM, 64)
        self.n1 = nn.LayerNorm(64)
        self.l2 = nn.Linear(64, 64)
        self.n2 = nn.LayerNorm(64)
        self.out = nn.Linear(64, N_FEAT)

    def __call__(self, z):
        h = nn.leaky_relu(self.n1(self.l1(z)), 0.2)
        h = nn.leaky_relu(self.n2(self.l2(h)), 0.2)
        return 2.5 * mx.tanh(self.out(h))


mx.random.seed(2)
student = nn.Sequential(nn.Linear(N_FEAT, 24), nn.ReLU(), nn.Linear(24, N_CLASS))
gen = Generator()
mx.eval(student.parameters(), gen.parameters())
untrained_acc = acc(student)

s_opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 1200, 1e-4))
g_opt = optim.Adam(learning_rate=1e-3)


def disagreement(s_out, t_out):
    return mx.mean(mx.abs(s_out - t_out))


def s_loss(model, x):
    return disagreement(model(x), mx.stop_gradient(teacher(x)))


def g_loss(g, z):
    x = g(z)
    return -disagreement(student(x), teacher(x))


s_step = nn.value_and_grad(student, s_loss)
g_step = nn.value_and_grad(gen, g_loss)

BATCH, S_ITERS, ROUNDS = 256, 5, 240
hdr = f"{'round':>5} ¦ {'s_L1':>7} ¦ {'g_obj':>8} ¦ {'gen_std':>7} ¦ {'test_acc':>8} ¦ {'teacher':>7} ¦ {'majority':>8} ¦ {'untrained':>9} ¦ {'sec':>5}"
print(hdr)
print("-" * len(hdr))
s_hist = []
for r in range(1, ROUNDS + 1):
    for _ in range(S_ITERS):
        z = mx.random.normal((BATCH // 2, Z_DIM))
        x = mx.concatenate([mx.stop_gradient(gen(z)), mx.random.normal((BATCH // 2, N_FEAT))], axis=0)
        sl, sg = s_step(student, x)
        s_opt.update(student, sg)
        mx.eval(student.parameters(), s_opt.state, sl)
        s_hist.append(sl.item())
    z = mx.random.normal((BATCH, Z_DIM))
    gl, gg = g_step(gen, z)
    g_opt.update(gen, gg)
    mx.eval(gen.parameters(), g_opt.state, gl)
    if r == 1:
        nz = sum(1 for _, v in nn.utils.tree_flatten(gg) if float(mx.abs(v).max()) > 0)
        print(f"# first generator step: {nz}/{len(nn.utils.tree_flatten(gg))} generator leaves got gradient; "
              f"teacher frozen: {len(teacher.trainable_parameters()) == 0 or not nn.utils.tree_flatten(teacher.trainable_parameters())}")
    if r % 30 == 0 or r == 1:
        spread = float(mx.mean(mx.std(gen(mx.random.normal((512, Z_DIM))), axis=0)).item())
        print(f"{r:>5} ¦ {np.mean(s_hist[-S_ITERS * 10:]):7.4f} ¦ {gl.item():8.4f} ¦ {spread:7.3f} ¦ "
              f"{acc(student):8.4f} ¦ {teacher_acc:7.4f} ¦ {majority:8.4f} ¦ {untrained_acc:9.4f} ¦ {time.time()-t_start:5.1f}")

agree = float(mx.mean(mx.argmax(student(xt_m), 1) == mx.argmax(teacher(xt_m), 1)).item())
print(f"# done: student test accuracy {acc(student):.4f} (teacher {teacher_acc:.4f}, majority {majority:.4f}), "
      f"agreement with teacher on real readings {agree:.4f}, student updates {ROUNDS * S_ITERS}")
