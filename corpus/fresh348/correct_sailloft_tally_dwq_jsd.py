# Sail-loft tally book: distilled weight quantization of a tiny tally-shorthand LM.
# A float teacher (mlx_lm llama) is fitted quietly, packed to 3 bits, and only the
# per-group quantization scales/biases are tuned against the teacher with a JSD loss.
import math, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten
from mlx_lm.models import llama

VOCAB, SEQ = 64, 24
rng = np.random.default_rng(7)
mx.random.seed(7)

# Markov source: each tally symbol has 3 likely successors
succ = rng.integers(0, VOCAB, size=(VOCAB, 3))
wts = rng.dirichlet([6.0, 2.0, 1.0], size=VOCAB)

def sample(n):
    out = np.zeros((n, SEQ + 1), dtype=np.int32)
    out[:, :2] = rng.integers(0, VOCAB, size=(n, 2))
    for t in range(2, SEQ + 1):
        b = out[:, t - 1]
        u = rng.random(n)
        c = np.cumsum(wts[b], axis=1)
        k = (u[:, None] > c).sum(1).clip(0, 2)
        noisy = rng.random(n) < 0.05
        out[:, t] = np.where(noisy, rng.integers(0, VOCAB, n), succ[b, k])
    return mx.array(out)

args = llama.ModelArgs(model_type="llama", hidden_size=64, num_hidden_layers=2,
                       intermediate_size=128, num_attention_heads=4, rms_norm_eps=1e-5,
                       vocab_size=VOCAB, num_key_value_heads=2, tie_word_embeddings=False)

def xent(model, x):
    logits = model(x[:, :-1])
    return nn.losses.cross_entropy(logits, x[:, 1:], reduction="mean")

# ---- teacher fit (quiet) ----
teacher = llama.Model(args)
opt = optim.AdamW(learning_rate=optim.cosine_decay(1e-2, 160, 1e-3), weight_decay=0.01)
step_fn = nn.value_and_grad(teacher, xent)
tstate = [teacher.state, opt.state]
@partial(mx.compile, inputs=tstate, outputs=tstate)
def teacher_step(x):
    loss, g = step_fn(teacher, x)
    opt.update(teacher, g)
    return loss
t0 = time.time()
for it in range(160):
    loss = teacher_step(sample(8))
    mx.eval(tstate, loss)
teacher.eval()
teacher.freeze()
teacher.save_weights("/tmp/sailloft_teacher.safetensors")
val = sample(64)
print(f"teacher fitted: 160 steps, val xent {xent(teacher, val).item():.4f} nats "
      f"({time.time() - t0:.1f}s)")

# ---- student: same weights, packed to 3 bits ----
student = llama.Model(args)
student.load_weights("/tmp/sailloft_teacher.safetensors")
nn.quantize(student, group_size=32, bits=3)
student.freeze()
def open_scales(path, m):
    if hasattr(m, "bits"):
        m.unfreeze(keys=["scales", "biases"], recurse=False)
student.apply_to_modules(open_scales)
student.eval()
n_train = sum(v.size for _, v in tree_flatten(student.trainable_parameters()))
packed = [v for k, v in tree_flatten(student.parameters()) if v.dtype == mx.uint32]
def checksum():
    return sum(int(mx.sum(p.astype(mx.uint64) % 9973).item()) for p in packed)
ck0 = checksum()
print(f"student: 3-bit group 32, {len(packed)} packed tensors, {n_train} tunable scale/bias values")

T = 1.0
def jsd(s_logits, t_logits):
    ls = s_logits / T - mx.logsumexp(s_logits / T, axis=-1, keepdims=True)
    lt = t_logits / T - mx.logsumexp(t_logits / T, axis=-1, keepdims=True)
    lm = mx.logaddexp(ls, lt) - math.log(2.0)
    ps, pt = mx.exp(ls), mx.exp(lt)
    return 0.5 * (mx.sum(ps * (ls - lm), -1) + mx.sum(pt * (lt - lm), -1)).mean()

def dwq_loss(model, x, t_logits):
    return jsd(model(x), t_logits)

val_t = teacher(val[:, :-1])
def val_jsd():
    return jsd(student(val[:, :-1]), val_t).item()

j0 = val_jsd()
x0 = xent(student, val).item()
xt = xent(teacher, val).item()
print(f"before tuning: val JSD {j0:.5f}, student xent {x0:.4f}, teacher xent {xt:.4f}")
print()
print("| step | lr | train JSD (25-step mean) | val JSD | student xent | teacher xent |")
print("|---:|---:|---:|---:|---:|---:|")

STEPS = 200
sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, 30),
                              optim.cosine_decay(1e-3, STEPS - 30, 1e-5)], [30])
sopt = optim.Adam(learning_rate=sched)
grad_fn = nn.value_and_grad(student, dwq_loss)
sstate = [student.state, sopt.state]
@partial(mx.compile, inputs=sstate, outputs=sstate)
def student_step(x, t_logits):
    loss, g = grad_fn(student, x, t_logits)
    sopt.update(student, g)
    return loss
window = []
for step in range(1, STEPS + 1):
    x = sample(8)[:, :-1]
    t_logits = mx.stop_gradient(teacher(x))
    lr_used = float(sopt.learning_rate.item()) if step > 1 else float(sched(0).item())
    loss = student_step(x, t_logits)
    mx.eval(sstate, loss)
    window.append(loss.item())
    window = window[-25:]
    if step >= 75 and step % 25 == 0:
        print(f"| {step} | {lr_used:.2e} | {np.mean(window):.5f} | {val_jsd():.5f} | "
              f"{xent(student, val).item():.4f} | {xt:.4f} |")

j1 = val_jsd()
print()
print(f"after tuning: val JSD {j0:.5f} -> {j1:.5f} ({100 * (1 - j1 / j0):.1f}% lower), "
      f"student xent {x0:.4f} -> {xent(student, val).item():.4f} (teacher {xt:.4f})")
print(f"packed integer checksum before/after: {ck0} / {checksum()}")
print(f"done in {time.time() - t0:.1f}s")
