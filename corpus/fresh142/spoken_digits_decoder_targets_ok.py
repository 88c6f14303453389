# Tiny "speech" transcription fine-tune: a frame encoder + causal token decoder
# (whisper-style SOT ... EOT), trained with teacher forcing on synthetic
# digit utterances, then greedy-decoded on held-out clips.
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("asr")

N_DIGITS = 10
SOT, EOT = 10, 11
VOCAB = 12
N_MELS = 16
UTT_LEN = 6           # digits per utterance
FRAMES_PER_DIGIT = 2
D = 64

rng = np.random.default_rng(7)
digit_sound = rng.normal(size=(N_DIGITS, N_MELS)).astype(np.float32)


def make_clips(n):
    digits = rng.integers(0, N_DIGITS, size=(n, UTT_LEN))
    mels = digit_sound[digits]                                  # n, L, M
    mels = np.repeat(mels, FRAMES_PER_DIGIT, axis=1)
    mels = mels + 0.3 * rng.normal(size=mels.shape).astype(np.float32)
    return mels.astype(np.float32), digits


def get_array_tokens(digit_rows):
    batch = [[SOT] + list(map(int, r)) for r in digit_rows]
    batch_target = [x[1:] + [EOT] for x in batch]
    lengths = [len(x) for x in batch]
    return mx.array(np.array(batch, np.int32)), mx.array(np.array(batch_target, np.int32)), mx.array(lengths)


class TinyWhisper(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc_in = nn.Linear(N_MELS, D)
        self.enc_pos = mx.random.normal((UTT_LEN * FRAMES_PER_DIGIT, D)) * 0.02
        self.enc_ln = nn.LayerNorm(D)
        self.tok = nn.Embedding(VOCAB, D)
        self.dec_pos = mx.random.normal((UTT_LEN + 2, D)) * 0.02
        self.self_attn = nn.MultiHeadAttention(D, 4)
        self.cross_attn = nn.MultiHeadAttention(D, 4)
        self.ln1 = nn.LayerNorm(D)
        self.ln2 = nn.LayerNorm(D)
        self.ln3 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))
        self.out = nn.Linear(D, VOCAB)

    def encode(self, mels):
        return self.enc_ln(nn.gelu(self.enc_in(mels)) + self.enc_pos)

    def decode(self, tokens, audio):
        T = tokens.shape[1]
        x = self.tok(tokens) + self.dec_pos[:T]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.ln1(x)
        x = x + self.self_attn(h, h, h, mask=mask)
        h = self.ln2(x)
        x = x + self.cross_attn(h, audio, audio)
        x = x + self.mlp(self.ln3(x))
        return self.out(x)

    def __call__(self, mels, tokens):
        return self.decode(tokens, self.encode(mels))


def loss(model, mels, dec_input_tokens, target_tokens, token_lengths):
    logits = model(mels, dec_input_tokens).astype(mx.float32)
    length_mask = mx.arange(target_tokens.shape[1])[None, :] < token_lengths[:, None]
    ce = nn.losses.cross_entropy(logits, target_tokens) * length_mask
    ntoks = length_mask.sum()
    return ce.sum() / ntoks, ntoks


def greedy_transcribe(model, mels):
    audio = model.encode(mels)
    toks = mx.full((mels.shape[0], 1), SOT, dtype=mx.int32)
    for _ in range(UTT_LEN):
        logits = model.decode(toks, audio)
        nxt = mx.argmax(logits[:, -1, :], axis=-1).astype(mx.int32)
        toks = mx.concatenate([toks, nxt[:, None]], axis=1)
    return np.array(toks[:, 1:])


def main():
    mx.random.seed(0)
    model = TinyWhisper()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    loss_value_and_grad = nn.value_and_grad(model, loss)

    val_mels, val_digits = make_clips(256)
    val_mels = mx.array(val_mels)
    v_in, v_tar, v_len = get_array_tokens(val_digits)

    iters, batch_size = 150, 32
    tic = time.perf_counter()
    for it in range(1, iters + 1):
        mels, digits = make_clips(batch_size)
        dec_in, tar, lens = get_array_tokens(digits)
        (lvalue, ntoks), grad = loss_value_and_grad(model, mx.array(mels), dec_in, tar, lens)
        opt.update(model, grad)
        mx.eval(model.parameters(), opt.state, lvalue)
        if it % 25 == 0:
            vl, _ = loss(model, val_mels, v_in, v_tar, v_len)
            log.info("Iter %d: Train loss %.4f, Val loss %.4f, It/sec %.1f",
                     it, lvalue.item(), vl.item(), 25 / (time.perf_counter() - tic))
            tic = time.perf_counter()

    hyp = greedy_transcribe(model, val_mels)
    digit_acc = float((hyp == val_digits).mean())
    utt_acc = float((hyp == val_digits).all(axis=1).mean())
    for k in range(3):
        log.info("ref %s | hyp %s", "".join(map(str, val_digits[k])),
                 " ".join(str(t) for t in hyp[k]))
    log.info("Greedy transcription: digit accuracy %.3f, utterance accuracy %.3f", digit_acc, utt_acc)


if __name__ == "__main__":
    main()
