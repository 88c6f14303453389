"""Hot-spring water typing (meteoric / acid-sulphate / carbonate / chloride-saline)
from 7 synthetic field-chemistry readings, with only a handful of sampled springs
and thousands of unsampled ones.

Pi-model: two stochastic passes (dropout + input jitter) over each unlabelled
reading, squared softmax difference as consistency. Stage A trains on the
labelled springs only (silent), stage B adds the consistency term with a
Gaussian ramp from exactly 0. Stage B is checkpointed halfway, rebuilt from
the files and resumed. Progress is written as an SMTP-style session transcript.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_CLASS, N_FEAT = 4, 7
rng = np.random.default_rng(7)
mx.random.seed(7)

# ----- synthetic springs ------------------------------------------------------
centres = rng.normal(0, 1.0, size=(N_CLASS, 2, N_FEAT))  # two pockets per water type


def springs(n):
    y = rng.integers(0, N_CLASS, size=n)
    pocket = rng.integers(0, 2, size=n)
    z = centres[y, pocket] + rng.normal(0, 0.75, size=(n, N_FEAT))
    # temperature, pH, Cl, SO4, HCO3, SiO2, B : a constant nonlinear lift
    x = np.tanh(1.3 * z) + 0.25 * z[:, [1, 2, 3, 4, 5, 6, 0]] * z[:, [2, 3, 4, 5, 6, 0, 1]]
    return x.astype(np.float32), y.astype(np.int32)


x_lab, y_lab = springs(8 * N_CLASS)      # 32 sampled springs
x_unl, y_unl_hidden = springs(6000)      # labels never used in training
x_test, y_test = springs(2000)
mu, sd = x_unl.mean(0), x_unl.std(0) + 1e-6
x_lab, x_unl, x_test = [(a - mu) / sd for a in (x_lab, x_unl, x_test)]
X_lab, Y_lab, X_unl = mx.array(x_lab), mx.array(y_lab), mx.array(x_unl)
X_test, Y_test = mx.array(x_test), mx.array(y_test)
majority = np.bincount(y_test, minlength=N_CLASS).max() / len(y_test)


class SpringNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(N_FEAT, 64), nn.GELU(), nn.Dropout(0.2),
            nn.Linear(64, 64), nn.GELU(), nn.Dropout(0.2))
        self.head = nn.Linear(64, N_CLASS)

    def __call__(self, x):
        return self.head(self.body(x))


def jitter(x):
    return x + 0.15 * mx.random.normal(x.shape)


def sup_loss(model, xb, yb):
    return nn.losses.cross_entropy(model(jitter(xb)), yb, reduction="mean")


def pi_loss(model, xb, yb, xu, w):
    ce = nn.losses.cross_entropy(model(jitter(xb)), yb, reduction="mean")
    p1 = mx.softmax(model(jitter(xu)), axis=-1)
    p2 = mx.softmax(model(jitter(xu)), axis=-1)
    cons = mx.mean(mx.sum(mx.square(p1 - p2), axis=-1))
    return ce + w * cons, (ce, cons)


def accuracy(model):
    model.eval()
    acc = (mx.argmax(model(X_test), axis=-1) == Y_test).mean().item()
    model.train()
    return acc


def make_optimizer(total_steps):
    warm = optim.linear_schedule(0.0, 2e-3, 60)
    decay = optim.cosine_decay(2e-3, total_steps - 60, 1e-5)
    return optim.Adam(learning_rate=optim.join_schedules([warm, decay], [60]))


def reply(code, lines):
    for i, ln in enumerate(lines):
        sep = " " if i == len(lines) - 1 else "-"
        print(f"S: {code}{sep}{ln}")


t0 = time.perf_counter()
print("S: 220 sinter.local ESMTP spring-typing trainer ready")
print("C: EHLO fieldbook")
reply(250, [f"labelled {len(y_lab)}", f"unlabelled {len(x_unl)}", f"test {len(y_test)}",
            f"MAJORITY-BASELINE {majority:.3f}", f"CHANCE {1 / N_CLASS:.3f}"])

# ----- stage A: labelled springs only (silent) -------------------------------
STEPS_A = 300
ref = SpringNet()
opt_a = make_optimizer(STEPS_A)
vg_a = nn.value_and_grad(ref, sup_loss)
ref.train()
for step in range(1, STEPS_A + 1):
    idx = mx.array(rng.integers(0, len(y_lab), size=16))
    loss, g = vg_a(ref, X_lab[idx], Y_lab[idx])
    opt_a.update(ref, g)
    mx.eval(ref.parameters(), opt_a.state)
ref_acc = accuracy(ref)
print("C: MAIL FROM:<stage-a@sinter.local>")
reply(250, [f"labelled-only reference trained {STEPS_A} steps (lr warm-up from 0, cosine)",
            f"final labelled ce {loss.item():.4f}", f"test-acc {ref_acc:.3f}"])

# ----- stage B: Pi-model, starting from the stage-A weights -------------------
STEPS_B, HALF, RAMP, W_MAX = 700, 350, 400, 12.0


def ramp(step):
    if step == 0:
        return 0.0
    t = min(step, RAMP) / RAMP
    return W_MAX * math.exp(-5.0 * (1.0 - t) ** 2) if step < RAMP else W_MAX


def run_stage_b(model, opt, start, stop, ckpt_dir=None):
    vg = nn.value_and_grad(model, pi_loss)
    model.train()
    win = []
    for step in range(start, stop):
        w = ramp(step)
        li = mx.array(rng.integers(0, len(y_lab), size=16))
        ui = mx.array(rng.integers(0, len(x_unl), size=96))
        (tot, (ce, cons)), g = vg(model, X_lab[li], Y_lab[li], X_unl[ui], mx.array(w))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, tot, ce, cons)
        win.append((tot.item(), ce.item(), cons.item()))
        if step == start or (step + 1) % 100 == 0:
            t, c, k = np.mean(win, axis=0)
            win = []
            lr = opt.learning_rate.item()
            print(f"C: RCPT TO:<step-{step + 1}@sinter.local>")
            reply(250, [f"w {w:.3f} lr {lr:.2e}", f"objective {t:.4f}",
                        f"labelled-ce {c:.4f}", f"consistency {k:.5f}",
                        f"test-acc {accuracy(model):.3f} (reference {ref_acc:.3f}, "
                        f"majority {majority:.3f})",
                        f"elapsed {time.perf_counter() - t0:.1f}s"])
    return model, opt


student = SpringNet()
student.update(ref.parameters())
opt_b = make_optimizer(STEPS_B)
student, opt_b = run_stage_b(student, opt_b, 0, HALF)

with tempfile.TemporaryDirectory() as d:
    wpath = os.path.join(d, "spring.safetensors")
    opath = os.path.join(d, "spring_opt.safetensors")
    student.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt_b.state)), metadata={"step": str(HALF)})
    print("C: DATA")
    print(f"S: 354 checkpoint written at step {HALF}, rebuilding from files")
    resumed = SpringNet()
    resumed.load_weights(wpath)
    opt_r = make_optimizer(STEPS_B)
    opt_r.init(resumed.trainable_parameters())
    loaded, meta = mx.load(opath, return_metadata=True)
    opt_r.state = tree_unflatten(list(loaded.items()))
    same = all(mx.array_equal(a, b).item() for (_, a), (_, b) in
               zip(tree_flatten(student.parameters()), tree_flatten(resumed.parameters())))
    print(f"S: 250 resumed at step {int(meta['step'])}, weights identical: {same}, "
          f"optimizer step {int(opt_r.state['step'].item())}")

resumed, opt_r = run_stage_b(resumed, opt_r, HALF, STEPS_B)
final = accuracy(resumed)
resumed.eval()
pseudo = mx.argmax(resumed(X_unl), axis=-1)
pl_acc = (pseudo == mx.array(y_unl_hidden)).mean().item()
print("C: QUIT")
reply(221, [f"final test-acc {final:.3f} vs labelled-only {ref_acc:.3f} vs majority {majority:.3f}",
            f"unlabelled-pool agreement with hidden types {pl_acc:.3f}",
            f"total {time.perf_counter() - t0:.1f}s, closing"])
