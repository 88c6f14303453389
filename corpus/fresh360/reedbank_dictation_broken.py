"""Dictated tally digits: a tiny Whisper-style encoder-decoder trained on
synthetic log-mel clips, optimised with an MLX port of Adam-atan2."""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_MELS = 16
FRAMES_PER_DIGIT = 8
N_DIGITS = 3
N_FRAMES = FRAMES_PER_DIGIT * N_DIGITS + 4
EOT, SOT, LANG, TRANSCRIBE = 10, 11, 12, 13
VOCAB = 14
PROMPT = [SOT, LANG, TRANSCRIBE]


class AdamATan2(optim.Optimizer):
    """Adam with atan2 in place of division by sqrt(v) + eps."""

    def __init__(
        self,
        learning_rate: float = 1e-4,
        betas: tuple = (0.9, 0.99),
        weight_decay: float = 0.0,
        a: float = 1.27,
    ):
        super().__init__()
        self.learning_rate = learning_rate
        self.beta1, self.beta2 = betas
        self.weight_decay = weight_decay
        self.a = a
        self._step = 0

    def init_single(self, parameter: mx.array, state: dict) -> dict:
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.zeros_like(parameter)
        state["step"] = 0
        return state

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        if self.weight_decay > 0:
            parameter = parameter * (1 - self.learning_rate * self.weight_decay)

        m = state["m"]
        v = state["v"]
        m = self.beta1 * m + (1 - self.beta1) * gradient
        v = self.beta2 * v + (1 - self.beta2) * (gradient ** 2)
        state["m"] = m
        state["v"] = v
        state["step"] += 1

        step = state["step"]
        bias_correction1 = 1 - self.beta1 ** step
        bias_correction2 = 1 - self.beta2 ** step

        # den = exp_avg_sq.mul(b * b / bias_correct2).sqrt_()
        # update = exp_avg.mul(1. / bias_correct1).atan2_(den)
        b = 1.0 / self.learning_rate
        den = mx.sqrt(v * (b * b / bias_correction2) + 1e-30)
        update = mx.arctan2(m / bias_correction1, den)
        update = update * self.learning_rate * self.a

        return parameter - update

    def apply_gradients(self, gradients, parameters):
        return super().apply_gradients(gradients, parameters)


# ---------------------------------------------------------------- data
rng = np.random.default_rng(7)
FORMANTS = rng.uniform(2, N_MELS - 2, size=(10, 2))


def make_clips(n):
    digits = rng.integers(0, 10, size=(n, N_DIGITS))
    mel = rng.normal(0.0, 0.35, size=(n, N_FRAMES, N_MELS)).astype(np.float32)
    bins = np.arange(N_MELS)[None, :]
    for i in range(n):
        start = rng.integers(0, 5)
        for j, d in enumerate(digits[i]):
            f1, f2 = FORMANTS[d]
            shape = np.exp(-0.5 * (bins - f1) ** 2) + 0.7 * np.exp(-0.5 * ((bins - f2) / 1.5) ** 2)
            s = start + j * FRAMES_PER_DIGIT
            mel[i, s : s + FRAMES_PER_DIGIT - 1] += 1.5 * shape
    tokens = np.concatenate(
        [np.tile(PROMPT, (n, 1)), digits, np.full((n, 1), EOT)], axis=1
    ).astype(np.int32)
    return mx.array(mel), mx.array(tokens)


# ---------------------------------------------------------------- model
def sinusoids(length, channels):
    inc = math.log(10000) / (channels // 2 - 1)
    inv = np.exp(-inc * np.arange(channels // 2))
    t = np.arange(length)[:, None] * inv[None, :]
    return mx.array(np.concatenate([np.sin(t), np.cos(t)], axis=1).astype(np.float32))


class Block(nn.Module):
    def __init__(self, d, heads, cross=False):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.cross = cross
        if cross:
            self.ln_x = nn.LayerNorm(d)
            self.xattn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp1 = nn.Linear(d, 4 * d)
        self.mlp2 = nn.Linear(4 * d, d)

    def __call__(self, x, mask=None, memory=None):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        if self.cross:
            h = self.ln_x(x)
            x = x + self.xattn(h, memory, memory)
        return x + self.mlp2(nn.gelu(self.mlp1(self.ln2(x))))


class TinyWhisper(nn.Module):
    def __init__(self, d=32, heads=2, layers=1):
        super().__init__()
        self.conv1 = nn.Conv1d(N_MELS, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.enc_pos = sinusoids(N_FRAMES // 2, d)
        self.enc = [Block(d, heads) for _ in range(layers)]
        self.ln_enc = nn.LayerNorm(d)
        self.tok = nn.Embedding(VOCAB, d)
        self.dec_pos = mx.random.normal((16, d)) * 0.02
        self.dec = [Block(d, heads, cross=True) for _ in range(layers)]
        self.ln_dec = nn.LayerNorm(d)

    def embed_audio(self, mel):
        x = nn.gelu(self.conv1(mel))
        x = nn.gelu(self.conv2(x))
        x = x + self.enc_pos[: x.shape[1]]
        for blk in self.enc:
            x = blk(x)
        return self.ln_enc(x)

    def logits(self, tokens, audio):
        T = tokens.shape[1]
        x = self.tok(tokens) + self.dec_pos[:T]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for blk in self.dec:
            x = blk(x, mask, audio)
        return self.tok.as_linear(self.ln_dec(x))

    def __call__(self, mel, tokens):
        return self.logits(tokens, self.embed_audio(mel))


def loss_fn(model, mel, tokens):
    logits = model(mel, tokens[:, :-1])
    targets = tokens[:, 1:]
    n_prompt = len(PROMPT) - 1
    ce = nn.losses.cross_entropy(logits[:, n_prompt:], targets[:, n_prompt:])
    return ce.mean()


def greedy_decode(model, mel):
    audio = model.embed_audio(mel)
    toks = mx.array(np.tile(PROMPT, (mel.shape[0], 1)).astype(np.int32))
    for _ in range(N_DIGITS + 1):
        nxt = mx.argmax(model.logits(toks, audio)[:, -1], axis=-1).astype(mx.int32)
        toks = mx.concatenate([toks, nxt[:, None]], axis=1)
    return np.array(toks[:, len(PROMPT):])


def digit_error_rate(model, mel, tokens):
    pred = greedy_decode(model, mel)[:, :N_DIGITS]
    ref = np.array(tokens[:, len(PROMPT):len(PROMPT) + N_DIGITS])
    return float((pred != ref).mean())


def main():
    mx.random.seed(0)
    train_mel, train_tok = make_clips(1024)
    val_mel, val_tok = make_clips(128)

    model = TinyWhisper()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"tiny whisper: {n_params:,} parameters, {N_FRAMES} frames x {N_MELS} mels")

    optimizer = AdamATan2(learning_rate=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    step_fn = nn.value_and_grad(model, loss_fn)

    batch, steps = 16, 300
    t0 = time.time()
    print(f"chance digit error rate: {0.9:.3f}")
    for step in range(1, steps + 1):
        idx = mx.array(np.random.default_rng(step).integers(0, 1024, size=batch))
        loss, grads = step_fn(model, train_mel[idx], train_tok[idx])
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
        if step % 25 == 0 or step == 1:
            print(f"step {step:4d}  loss {loss.item():.4f}  ({time.time() - t0:.1f}s)")
        if step % 100 == 0:
            val_loss = loss_fn(model, val_mel, val_tok).item()
            der = digit_error_rate(model, val_mel, val_tok)
            print(f"  val loss {val_loss:.4f}  digit error rate {der:.3f}")

    der = digit_error_rate(model, val_mel, val_tok)
    print(f"final digit error rate {der:.3f} (chance 0.900)")
    sample = greedy_decode(model, val_mel[:4])
    for i in range(4):
        ref = np.array(val_tok[i, len(PROMPT):len(PROMPT) + N_DIGITS]).tolist()
        print(f"  ref {ref}  hyp {sample[i, :N_DIGITS].tolist()}")


if __name__ == "__main__":
    main()
