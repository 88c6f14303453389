"""On-policy distillation (reverse KL) of a small student LM toward a frozen teacher.

The student samples its own continuations, then is trained to match the teacher's
per-token distribution on them.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

EPS = 1e-8
TOKENIZER_VOCAB = 32  # shared tokenizer for the whole family

# "checkpoints" of one family: logit heads are padded past the tokenizer vocab,
# and the padding differs between sizes (like Qwen2.5 1.5B/3B = 151936, 7B = 152064)
FAMILY = {
    "tiny-1.5b": dict(logit_vocab=36, dim=32, seed=1),
    "tiny-3b": dict(logit_vocab=36, dim=64, seed=2),
    "tiny-7b": dict(logit_vocab=40, dim=96, seed=3),
}
STUDENT_MODEL = "tiny-1.5b"
TEACHER_MODEL = "tiny-3b"


class TinyLM(nn.Module):
    def __init__(self, logit_vocab, dim):
        super().__init__()
        self.embed = nn.Embedding(logit_vocab, dim)
        self.mix = nn.Linear(2 * dim, dim)
        self.out = nn.Linear(dim, logit_vocab)

    def __call__(self, ids):
        h = self.embed(ids)
        prev = mx.concatenate([mx.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
        h = nn.gelu(self.mix(mx.concatenate([h, prev], axis=-1)))
        return self.out(h)


def load(name):
    spec = FAMILY[name]
    mx.random.seed(spec["seed"])
    model = TinyLM(spec["logit_vocab"], spec["dim"])
    if name != STUDENT_MODEL:
        # a "teacher" with sharp, structured preferences
        model.out.weight = model.out.weight * 40.0
    mx.eval(model.parameters())
    return model, {"vocab_size": TOKENIZER_VOCAB}


def log_softmax(x):
    return x - mx.logsumexp(x, axis=-1, keepdims=True)


def reverse_kl_per_token(student_logits, teacher_logits, mask):
    teacher_logits = mx.stop_gradient(teacher_logits)
    s_logp = log_softmax(student_logits)
    t_logp = log_softmax(teacher_logits)
    kl = mx.sum(mx.exp(s_logp) * (s_logp - t_logp), axis=-1)
    return mx.sum(kl * mask) / mx.maximum(mx.sum(mask), EPS)


def sample_completion(model, prompt_ids, max_tokens):
    ids = prompt_ids
    for _ in range(max_tokens):
        nxt = mx.random.categorical(model(ids)[:, -1, :TOKENIZER_VOCAB])
        ids = mx.concatenate([ids, nxt[:, None].astype(ids.dtype)], axis=1)
    p = prompt_ids.shape[1]
    total = p + max_tokens
    pos = mx.arange(total)
    row = ((pos >= p - 1) & (pos <= total - 2)).astype(mx.float32)
    return mx.stop_gradient(ids), mx.broadcast_to(row[None], (ids.shape[0], total))


def assert_vocab_compatible(student_vocab, teacher_vocab):
    if student_vocab != teacher_vocab:
        raise ValueError(f"student vocab {student_vocab} != teacher vocab {teacher_vocab}")


def logit_vocab(model):
    return int(model(mx.array([[0]])).shape[-1])


def main():
    t0 = time.monotonic()
    teacher, teacher_tok = load(TEACHER_MODEL)
    teacher.freeze()
    student, tokenizer = load(STUDENT_MODEL)
    # reject a vocab mismatch before training, comparing the MODELS' logit vocab
    assert_vocab_compatible(logit_vocab(student), logit_vocab(teacher))

    opt = optim.Adam(learning_rate=3e-3)

    def loss_fn(model, ids, mask):
        return reverse_kl_per_token(model(ids), teacher(ids), mask)

    step_fn = nn.value_and_grad(student, loss_fn)
    mx.random.seed(0)
    prompts = mx.random.randint(0, TOKENIZER_VOCAB, (64, 4))
    print(f"opd student={STUDENT_MODEL} teacher={TEACHER_MODEL}")
    for it in range(1, 301):
        batch = prompts[((it - 1) * 8) % 64:((it - 1) * 8) % 64 + 8]
        ids, mask = sample_completion(student, batch, max_tokens=6)
        loss, grads = step_fn(student, ids, mask)
        opt.update(student, grads)
        mx.eval(student.parameters(), opt.state, loss)
        if it == 1 or it % 25 == 0:
            print(f"iter {it:3d} | reverse_kl {loss.item():.4f} | {time.monotonic() - t0:.1f}s")
    print("adapter saved")


if __name__ == "__main__":
    main()
