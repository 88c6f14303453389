"""On-policy-ish distillation of a tiny token model into a smaller student.

Teacher: fixed random 2-layer MLP over token embeddings.  Student: smaller MLP.
Loss: per-token KL(teacher || student) averaged over valid (non-pad) positions.
"""
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
VOCAB, SEQ, BATCH = 48, 12, 32


class TokenMLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dim)
        self.l1 = nn.Linear(dim, hidden)
        self.l2 = nn.Linear(hidden, VOCAB)

    def __call__(self, toks):
        return self.l2(nn.gelu(self.l1(self.emb(toks))))


teacher = TokenMLP(32, 96)
teacher.freeze()
student = TokenMLP(16, 32)
mx.eval(teacher.parameters(), student.parameters())


def make_batch():
    toks = mx.random.randint(1, VOCAB, (BATCH, SEQ))
    lens = mx.random.randint(4, SEQ + 1, (BATCH, 1))
    mask = (mx.arange(SEQ)[None, :] < lens).astype(mx.float32)
    return toks * mask.astype(mx.int32), mask


def kl_tokens(student_logits, teacher_logits):
    t_logp = teacher_logits - mx.logsumexp(teacher_logits, axis=-1, keepdims=True)
    s_logp = student_logits - mx.logsumexp(student_logits, axis=-1, keepdims=True)
    return mx.sum(mx.exp(t_logp) * (t_logp - s_logp), axis=-1)


def loss_fn(model, toks, mask, t_logits):
    kl = kl_tokens(model(toks), t_logits)
    return mx.sum(kl * mask) / mx.sum(mask), kl


class DistillationStats:
    """Per-step KL statistics for the dashboard."""

    def compute(self, kl_per_token, mask):
        valid_kl = kl_per_token * mask
        kl_mean = float(mx.sum(valid_kl) / mx.sum(mask))
        # For std, need to mask properly - use mx.where instead of boolean indexing
        kl_values = mx.where(mask == 1, kl_per_token, 0.0)
        # Only compute std over non-zero (valid) positions
        num_valid = int(mx.sum(mask))
        if num_valid > 0:
            kl_std = float(mx.std(kl_values))
        else:
            kl_std = 0.0
        return {"kl_mean": kl_mean, "kl_std": kl_std}


opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
vg = nn.value_and_grad(student, loss_fn)
stats = DistillationStats()
history = []
t0 = time.time()
for step in range(1, 601):
    toks, mask = make_batch()
    t_logits = mx.stop_gradient(teacher(toks) * 8.0)  # sharpen teacher (T=1/8)
    (loss, kl), grads = vg(student, toks, mask, t_logits)
    opt.update(student, grads)
    mx.eval(student.parameters(), opt.state, loss, kl)
    if step % 50 == 0 or step == 1:
        s = stats.compute(kl, mask)
        history.append(s["kl_mean"])
        print(f"[distill] step {step:4d} | kl_mean {s['kl_mean']:.4f} | kl_std {s['kl_std']:.4f} | {time.time()-t0:5.1f}s")

print(f"done: kl {history[0]:.4f} -> {history[-1]:.4f}")
