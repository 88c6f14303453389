"""Cipher desk: a small autoregressive decoder learns to undo an autokey cipher.

plain[0] = cipher[0] - key, plain[i] = cipher[i] - plain[i-1]  (mod 8), so
each decoded letter is fed back as the key of the next one.

Stage 1 trains with teacher forcing (cross-entropy, lr warmed up from 0).
The stage-1 weights are written to disk and read back into a new model.
Stage 2 fine-tunes with self-critical sequence training: the model samples
its own decodes autoregressively, the greedy decode is the baseline, and the
per-position match rate is the reward.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_SYM = 8           # plaintext alphabet
KEY0 = N_SYM        # tokens 8..15 carry the shift key
SEP = 2 * N_SYM     # 16
VOCAB = SEP + 1
L = 6               # message length
SEQ = 1 + L + 1 + L  # key, cipher, sep, plain

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_batch(n):
    key = rng.integers(0, N_SYM, size=(n, 1))
    plain = rng.integers(0, N_SYM, size=(n, L))
    shift = np.concatenate([key, plain[:, :-1]], axis=1)
    cipher = (plain + shift) % N_SYM
    prompt = np.concatenate([key + KEY0, cipher, np.full((n, 1), SEP)], axis=1)
    return mx.array(prompt), mx.array(plain)


class Desk(nn.Module):
    """Step i sees cipher[i], the previous output (the key token at i=0) and i."""

    def __init__(self, dims=48, hidden=128):
        super().__init__()
        self.cipher_emb = nn.Embedding(N_SYM, dims)
        self.prev_emb = nn.Embedding(VOCAB, dims)
        self.pos_emb = nn.Embedding(L, dims)
        self.mlp = nn.Sequential(nn.Linear(dims, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, N_SYM))

    def __call__(self, cipher, prev):
        t = prev.shape[1]
        h = self.cipher_emb(cipher[:, :t]) + self.prev_emb(prev) + self.pos_emb(mx.arange(t))
        return self.mlp(h)


def target_logits(model, prompt, plain):
    # teacher forcing: the previous letter is the true one (the key at i=0)
    cipher = prompt[:, 1:1 + L]
    prev = mx.concatenate([prompt[:, :1], plain[:, :-1]], axis=1)
    return model(cipher, prev)


def xent_loss(model, prompt, plain):
    lg = target_logits(model, prompt, plain)
    return nn.losses.cross_entropy(lg, plain, reduction="mean")


def decode(model, prompt, greedy):
    cipher = prompt[:, 1:1 + L]
    seq = prompt[:, :1]
    for _ in range(L):
        lg = model(cipher, seq)[:, -1]
        nxt = mx.argmax(lg, axis=-1) if greedy else mx.random.categorical(lg)
        seq = mx.concatenate([seq, nxt[:, None].astype(seq.dtype)], axis=1)
    return seq[:, 1:]


def scst_loss(model, prompt, sampled, advantage):
    lg = target_logits(model, prompt, sampled)
    logp = -nn.losses.cross_entropy(lg, sampled, reduction="none").sum(axis=1)
    return -(advantage * logp).mean()


def evaluate(model, prompt, plain):
    out = decode(model, prompt, greedy=True)
    match = (out == plain).astype(mx.float32)
    return match.mean().item(), match.min(axis=1).mean().item()


def main():
    t0 = time.time()
    ev_prompt, ev_plain = make_batch(256)
    ckpt_dir = tempfile.mkdtemp()
    ckpt = os.path.join(ckpt_dir, "stage1.safetensors")

    # ---------------- stage 1: teacher forcing ----------------
    model = Desk()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))
    print(f"cipher desk | params {n_params} | vocab {VOCAB} | msg len {L}")
    print(f"reference: uniform guess per position = {1 / N_SYM:.3f}")

    steps1, warm = 64, 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, steps1 - warm, 2e-4)], [warm])
    opt = optim.Adam(learning_rate=sched)
    lg_fn = nn.value_and_grad(model, xent_loss)
    for step in range(1, steps1 + 1):
        prompt, plain = make_batch(128)
        loss, grads = lg_fn(model, prompt, plain)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 8 == 0:
            pos_acc, exact = evaluate(model, ev_prompt, ev_plain)
            print(f"[forcing] step {step:3d}  lr {sched(step - 1).item():.2e}  "
                  f"xent {loss.item():.4f}  pos_match {pos_acc:.3f}  exact {exact:.3f}")

    model.save_weights(ckpt)
    print(f"stage 1 weights written ({os.path.getsize(ckpt)} bytes)")

    # ---------------- stage 2: self-critical fine-tune ----------------
    model = Desk()
    model.load_weights(ckpt)
    mx.eval(model.parameters())
    pos_acc, exact = evaluate(model, ev_prompt, ev_plain)
    print(f"reloaded: pos_match {pos_acc:.3f}  exact {exact:.3f}")

    opt = optim.Adam(learning_rate=3e-4)
    lg_fn = nn.value_and_grad(model, scst_loss)
    steps2 = 90
    for step in range(1, steps2 + 1):
        prompt, plain = make_batch(128)
        sampled = decode(model, prompt, greedy=False)
        base = decode(model, prompt, greedy=True)
        r_s = (sampled == plain).astype(mx.float32).mean(axis=1)
        r_g = (base == plain).astype(mx.float32).mean(axis=1)
        adv = mx.stop_gradient(r_s - r_g)
        loss, grads = lg_fn(model, prompt, sampled, adv)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 15 == 0:
            pos_acc, exact = evaluate(model, ev_prompt, ev_plain)
            print(f"[self-critic] step {step:3d}  pg_loss {loss.item():+.4f}  "
                  f"sample_reward {r_s.mean().item():.3f}  greedy_reward {r_g.mean().item():.3f}  "
                  f"pos_match {pos_acc:.3f}  exact {exact:.3f}")

    pos_acc, exact = evaluate(model, ev_prompt, ev_plain)
    print(f"done in {time.time() - t0:.1f}s: held-out pos_match {pos_acc:.3f}, exact {exact:.3f}")
    os.remove(ckpt)
    os.rmdir(ckpt_dir)


if __name__ == "__main__":
    main()
