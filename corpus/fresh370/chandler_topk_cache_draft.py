"""Draft-model distillation from an offline cache of top-k teacher probabilities.

Chandlery order-line codes (24 symbols) follow a made-up second-order source.
1) A teacher next-code model is fitted on sampled codes (silent).
2) Its distribution on 12000 contexts is cached offline as top-4 probabilities
   plus one tail bucket holding the remaining mass.
3) A much smaller draft student is fitted only on that cache with a sparse KL,
   under warm-up from 0 and cosine restarts; a checkpoint is written mid-run and
   the run resumes from it in fresh objects.
"""
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

V, K = 24, 4
mx.random.seed(7)

# ----- synthetic second-order source ---------------------------------------
src_logits = 2.6 * mx.random.normal((V, V, V))
src_logp = src_logits - mx.logsumexp(src_logits, axis=-1, keepdims=True)


def sample_contexts(n, key):
    k1, k2 = mx.random.split(key)
    ctx = mx.random.randint(0, V, (n, 2), key=k1)
    nxt = mx.random.categorical(src_logp[ctx[:, 0], ctx[:, 1]], key=k2)
    return ctx, nxt


class CodeModel(nn.Module):
    def __init__(self, emb, hidden):
        super().__init__()
        self.emb = nn.Embedding(V, emb)
        self.l1 = nn.Linear(2 * emb, hidden)
        self.l2 = nn.Linear(hidden, V)

    def __call__(self, ctx):
        e = self.emb(ctx).reshape(ctx.shape[0], -1)
        return self.l2(nn.gelu(self.l1(e)))


def ce(model, ctx, y):
    return nn.losses.cross_entropy(model(ctx), y, reduction="mean")


# ----- stage 1: teacher (no progress output) --------------------------------
t0 = time.time()
teacher = CodeModel(16, 96)
t_opt = optim.Adam(learning_rate=2e-3)
t_step = nn.value_and_grad(teacher, ce)
key = mx.random.key(11)
for i in range(700):
    key, sub = mx.random.split(key)
    ctx, y = sample_contexts(256, sub)
    loss, g = t_step(teacher, ctx, y)
    t_opt.update(teacher, g)
    mx.eval(teacher.parameters(), t_opt.state)
teacher.freeze()
teacher.eval()

val_ctx, val_y = sample_contexts(4000, mx.random.key(999))
floor = float(-mx.mean(mx.sum(mx.exp(src_logp[val_ctx[:, 0], val_ctx[:, 1]])
                               * src_logp[val_ctx[:, 0], val_ctx[:, 1]], axis=-1)))
teacher_ce = float(ce(teacher, val_ctx, val_y))
print(f"teacher fitted in {time.time() - t0:.1f}s  valid CE {teacher_ce:.4f}  source floor {floor:.4f}")

# ----- stage 2: offline top-k cache ----------------------------------------
N = 12000
cache_ctx, _ = sample_contexts(N, mx.random.key(5))
t_probs = mx.softmax(teacher(cache_ctx), axis=-1)
top_idx = mx.argpartition(-t_probs, kth=K - 1, axis=-1)[:, :K]
top_p = mx.take_along_axis(t_probs, top_idx, axis=-1)
tail_p = mx.maximum(1.0 - top_p.sum(axis=-1), 0.0)
mx.eval(top_idx, top_p, tail_p)
print(f"cache: {N} contexts, top-{K} mass mean {float(top_p.sum(-1).mean()):.3f}, "
      f"tail mass mean {float(tail_p.mean()):.3f}")
del t_probs


def sparse_kl(model, ctx, idx, p, tail):
    logits = model(ctx)
    lse = mx.logsumexp(logits, axis=-1)
    q_top = mx.take_along_axis(logits, idx, axis=-1) - lse[:, None]
    hit = mx.zeros(logits.shape).at[mx.arange(logits.shape[0])[:, None], idx].add(1.0)
    q_tail = mx.logsumexp(mx.where(hit > 0, -1e9, logits), axis=-1) - lse
    eps = 1e-12
    kl_top = mx.sum(p * (mx.log(p + eps) - q_top), axis=-1)
    kl_tail = tail * (mx.log(tail + eps) - q_tail)
    return mx.mean(kl_top + kl_tail)


# ----- stage 3: draft student on the cache ----------------------------------
PEAK, WARM, CYCLE, CYCLES = 4e-3, 60, 300, 3
TOTAL = WARM + CYCLE * CYCLES
BS, CKPT_AT = 256, 500


def make_schedule():
    parts = [optim.linear_schedule(0.0, PEAK, WARM)]
    bounds = []
    for c in range(CYCLES):
        parts.append(optim.cosine_decay(PEAK, CYCLE, end=PEAK * 0.02))
        bounds.append(WARM + c * CYCLE)
    return optim.join_schedules(parts, bounds)


student = CodeModel(6, 24)
opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=0.01)
s_step = nn.value_and_grad(student, sparse_kl)
n_params = sum(v.size for _, v in tree_flatten(student.parameters()))
print(f"student params {n_params} (teacher {sum(v.size for _, v in tree_flatten(teacher.parameters()))})")

ckpt_dir = tempfile.mkdtemp()
perm_key = mx.random.key(21)
step, running = 0, []
while step < TOTAL:
    perm_key, sub = mx.random.split(perm_key)
    order = mx.random.permutation(N, key=sub)
    for b in range(0, N - BS + 1, BS):
        sel = order[b:b + BS]
        loss, g = s_step(student, cache_ctx[sel], top_idx[sel], top_p[sel], tail_p[sel])
        opt.update(student, g)
        mx.eval(student.parameters(), opt.state, loss)
        running.append(loss.item())
        step += 1
        if step % 60 == 0:
            lr = opt.learning_rate.item()
            print(f"step {step:5d}  sparse KL {sum(running) / len(running):.4f}  lr {lr:.2e}")
            running = []
        if step == CKPT_AT:
            student.save_weights(os.path.join(ckpt_dir, "student.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            before = {k: v for k, v in tree_flatten(student.parameters())}
            student = CodeModel(6, 24)
            student.load_weights(os.path.join(ckpt_dir, "student.safetensors"))
            opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=0.01)
            opt.init(student.trainable_parameters())
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            s_step = nn.value_and_grad(student, sparse_kl)
            diff = max(float(mx.abs(before[k] - v).max()) for k, v in tree_flatten(student.parameters()))
            print(f"checkpoint written and reloaded at step {step}: max param diff {diff:.1e}, "
                  f"optimizer step {int(opt.state['step'])}")
        if step >= TOTAL:
            break

# ----- evaluation ------------------------------------------------------------
student.eval()
s_logits = student(val_ctx)
t_logits = teacher(val_ctx)
student_ce = float(nn.losses.cross_entropy(s_logits, val_y, reduction="mean"))
counts = mx.zeros((V,)).at[val_y].add(1.0)
uni_logp = mx.log(counts / counts.sum())
unigram_ce = float(-mx.mean(uni_logp[val_y]))
t_arg = mx.argmax(t_logits, axis=-1)
accept = float(mx.mean(mx.argmax(s_logits, axis=-1) == t_arg))
accept_uni = float(mx.mean(t_arg == mx.argmax(uni_logp)))
full_kl = float(mx.mean(mx.sum(mx.softmax(t_logits, -1) * (nn.log_softmax(t_logits) - nn.log_softmax(s_logits)), -1)))
print(f"valid CE  student {student_ce:.4f} | teacher {teacher_ce:.4f} | source floor {floor:.4f} | unigram {unigram_ce:.4f}")
print(f"full-vocab KL(teacher||student) {full_kl:.4f}")
print(f"greedy draft acceptance vs teacher argmax: student {accept:.3f} | unigram guess {accept_uni:.3f}")
shutil.rmtree(ckpt_dir, ignore_errors=True)
