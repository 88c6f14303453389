"""Two-point zeroth-order adaptation of a vocabulary logit bias on top of a frozen bf16 LM."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 256
SEQ = 32
N_SAMPLES = 24
N_BIAS = 32
MU = 1e-3
CLIP = 25.0
ZO_LR = 1.5
ZO_STEPS = 200


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, x):
        h = self.embed(x)
        h = nn.gelu(self.mix(h)) + h
        return self.head(h)


def markov_chain(rng):
    trans = rng.dirichlet(np.full(VOCAB, 0.05), size=VOCAB)
    return trans


def sample_sequences(rng, trans, n, length, label_ids=None, label_rate=0.0):
    cdf = np.cumsum(trans, axis=1)
    seqs = np.zeros((n, length + 1), dtype=np.int32)
    seqs[:, 0] = rng.integers(0, VOCAB, size=n)
    for t in range(1, length + 1):
        u = rng.random(n)[:, None]
        nxt = np.minimum((u > cdf[seqs[:, t - 1]]).sum(axis=1), VOCAB - 1)
        if label_ids is not None:
            swap = rng.random(n) < label_rate
            nxt = np.where(swap, rng.choice(label_ids, size=n), nxt)
        seqs[:, t] = nxt
    return seqs


def pretrain_base(rng, trans):
    model = TinyLM(VOCAB)
    opt = optim.Adam(learning_rate=1e-2)
    data = sample_sequences(rng, trans, 512, SEQ)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    for it in range(80):
        idx = rng.integers(0, len(data), size=32)
        batch = mx.array(data[idx])
        loss, grads = step(model, batch[:, :-1], batch[:, 1:])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it % 20 == 0 or it == 79:
            print(f"[base] step {it:3d} loss {loss.item():.4f}")
    return model


def manual_cross_entropy_with_vocab_bias(logits, targets, bias_token_ids, theta):
    if len(bias_token_ids) != int(theta.shape[0]):
        raise ValueError("bias_token_ids and theta length mismatch")
    vocab_size = int(logits.shape[-1])
    bias = np.zeros(vocab_size, dtype=np.float32)
    for idx, token_id in enumerate(bias_token_ids):
        if 0 <= int(token_id) < vocab_size:
            bias[int(token_id)] = float(theta[idx])
    biased_logits = logits + mx.array(bias, dtype=logits.dtype)
    log_norm = mx.logsumexp(biased_logits, axis=-1)
    selected = mx.take_along_axis(biased_logits, targets[..., None], axis=-1).squeeze(-1)
    return log_norm - selected


def per_sample_losses(logits, targets, bias_token_ids, theta):
    loss_tokens = manual_cross_entropy_with_vocab_bias(logits, targets, bias_token_ids, theta)
    loss = mx.mean(loss_tokens.astype(mx.float32), axis=-1)
    mx.eval(loss)
    return np.array(loss, dtype=np.float64)


def finite_difference_per_sample(logits, targets, bias_token_ids, theta, direction, mu):
    plus = per_sample_losses(logits, targets, bias_token_ids, theta + mu * direction)
    minus = per_sample_losses(logits, targets, bias_token_ids, theta - mu * direction)
    fd = (plus - minus) / (2.0 * mu)
    return fd, plus, minus


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    t0 = time.perf_counter()
    trans = markov_chain(rng)
    base = pretrain_base(rng, trans)
    base.set_dtype(mx.bfloat16)
    base.freeze()

    bias_token_ids = rng.choice(VOCAB, size=N_BIAS, replace=False).tolist()
    task = sample_sequences(rng, trans, N_SAMPLES, SEQ, label_ids=bias_token_ids, label_rate=0.35)
    held = sample_sequences(rng, trans, N_SAMPLES, SEQ, label_ids=bias_token_ids, label_rate=0.35)
    logits = base(mx.array(task[:, :-1]))
    held_logits = base(mx.array(held[:, :-1]))
    mx.eval(logits, held_logits)
    targets = mx.array(task[:, 1:])
    held_targets = mx.array(held[:, 1:])
    print(f"cached logits {tuple(logits.shape)} dtype={logits.dtype} |max|={mx.abs(logits).max().item():.2f}")

    theta = np.zeros(N_BIAS, dtype=np.float64)
    start_loss = per_sample_losses(logits, targets, bias_token_ids, theta).mean()
    start_held = per_sample_losses(held_logits, held_targets, bias_token_ids, theta).mean()
    print(f"zo start  train {start_loss:.4f}  held {start_held:.4f}")
    for step in range(1, ZO_STEPS + 1):
        direction = rng.standard_normal(N_BIAS)
        fd, plus, minus = finite_difference_per_sample(logits, targets, bias_token_ids, theta, direction, MU)
        g = float(np.clip(fd, -CLIP, CLIP).mean())
        theta = theta - ZO_LR * g * direction
        if step % 20 == 0:
            tr = per_sample_losses(logits, targets, bias_token_ids, theta).mean()
            print(f"zo step {step:3d}  train {tr:.4f}  fd_abs_max {np.abs(fd).max():.4f}  "
                  f"|theta| {np.linalg.norm(theta):.4f}")
    end_loss = per_sample_losses(logits, targets, bias_token_ids, theta).mean()
    end_held = per_sample_losses(held_logits, held_targets, bias_token_ids, theta).mean()
    print(f"zo done   train {start_loss:.4f} -> {end_loss:.4f}  held {start_held:.4f} -> {end_held:.4f}")
    print(f"elapsed {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
