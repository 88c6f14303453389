"""Fine-tune a small speech decoder on synthetic 'Dothraki' clips.

The encoder is a pretrained-style audio encoder (stored in float16, frozen);
only the decoder is trained, with AdamW + cosine decay.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as opt
import numpy as np

SOT, NO_TS, EOT = 1, 2, 0
VOCAB = 40
N_MELS, FRAMES = 16, 24
D = 64


class AudioEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(N_MELS, D, 3, padding=1)
        self.conv2 = nn.Conv1d(D, D, 3, stride=2, padding=1)
        self.ln = nn.LayerNorm(D)

    def __call__(self, mel):
        x = nn.gelu(self.conv1(mel))
        x = nn.gelu(self.conv2(x))
        return self.ln(x)


class TextDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, D)
        self.pos = mx.random.normal((32, D)) * 0.02
        self.self_attn = nn.MultiHeadAttention(D, 4)
        self.cross_attn = nn.MultiHeadAttention(D, 4)
        self.ln1 = nn.LayerNorm(D)
        self.ln2 = nn.LayerNorm(D)
        self.ln3 = nn.LayerNorm(D)
        self.mlp1 = nn.Linear(D, 4 * D)
        self.mlp2 = nn.Linear(4 * D, D)
        self.ln_out = nn.LayerNorm(D)

    def __call__(self, tokens, audio):
        L = tokens.shape[1]
        x = self.tok(tokens) + self.pos[:L]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L).astype(x.dtype)
        h = self.ln1(x)
        x = x + self.self_attn(h, h, h, mask)
        h = self.ln2(x)
        x = x + self.cross_attn(h, audio, audio)
        x = x + self.mlp2(nn.gelu(self.mlp1(self.ln3(x))))
        return self.tok.as_linear(self.ln_out(x))


class Whisperish(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = AudioEncoder()
        self.decoder = TextDecoder()


def make_dataset(n, rng):
    """Each clip: a word of 3-7 'syllable' tokens; mel frames encode the tokens."""
    proto = rng.normal(size=(VOCAB, N_MELS)).astype(np.float32)
    data = []
    for _ in range(n):
        L = rng.integers(3, 8)
        toks = rng.integers(3, VOCAB, size=L)
        mel = np.zeros((FRAMES, N_MELS), np.float32)
        per = FRAMES // L
        for j, t in enumerate(toks):
            mel[j * per:(j + 1) * per] = proto[t]
        mel += 0.3 * rng.normal(size=mel.shape)
        data.append((mel, [SOT, NO_TS] + toks.tolist() + [EOT]))
    return data


def prepare_batch(entries):
    mel = mx.array(np.stack([e[0] for e in entries])).astype(mx.float16)
    max_len = max(len(e[1]) for e in entries)
    padded = np.full((len(entries), max_len), EOT, dtype=np.int32)
    for i, e in enumerate(entries):
        padded[i, :len(e[1])] = e[1]
    return mel, mx.array(padded[:, :-1]), mx.array(padded[:, 1:])


def compute_loss(model, mel, tokens_in, tokens_out):
    audio = mx.stop_gradient(model.encoder(mel))
    logits = model.decoder(tokens_in, audio)
    B, L, V = logits.shape
    logits_flat = logits.reshape(-1, V)
    targets_flat = tokens_out.reshape(-1)
    mask = (targets_flat != EOT).astype(mx.float32)
    loss = nn.losses.cross_entropy(logits_flat, targets_flat, reduction="none")
    return (loss * mask).sum() / mx.maximum(mask.sum(), mx.array(1.0))


def evaluate(model, entries, bs):
    tot, n = 0.0, 0
    for i in range(0, len(entries), bs):
        mel, ti, to = prepare_batch(entries[i:i + bs])
        loss = compute_loss(model, mel, ti, to)
        mx.eval(loss)
        tot += loss.item()
        n += 1
    return tot / max(n, 1)


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    data = make_dataset(400, rng)
    train_entries, val_entries = data[:320], data[320:]

    model = Whisperish()
    # checkpoint ships in float16 (like the converted MLX Whisper weights)
    model.set_dtype(mx.float16)

    # Cast decoder to float32 for training stability
    # (float16 weights overflow during the optimizer update)
    def to_float32(params):
        if isinstance(params, mx.array):
            return params.astype(mx.float32)
        elif isinstance(params, dict):
            return {k: to_float32(v) for k, v in params.items()}
        elif isinstance(params, list):
            return [to_float32(v) for v in params]
        return params

    model.decoder.update(to_float32(model.decoder.parameters()))

    model.encoder.freeze()
    trainable = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
    total = sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))
    print(f"Parameters: {total:,} total, {trainable:,} trainable (decoder only)", flush=True)
    print(f"Dataset: {len(train_entries)} train, {len(val_entries)} val", flush=True)

    epochs, bs, lr = 8, 16, 3e-3
    n_steps = (len(train_entries) // bs) * epochs
    optimizer = opt.AdamW(learning_rate=opt.cosine_decay(lr, n_steps, 1e-5))
    loss_and_grad = nn.value_and_grad(model, compute_loss)

    print(f"\nTraining for {epochs} epochs, {n_steps} steps...", flush=True)
    best_val = float("inf")
    step = 0
    for epoch in range(epochs):
        t0 = time.time()
        order = np.random.RandomState(epoch).permutation(len(train_entries))
        shuffled = [train_entries[i] for i in order]
        ep_loss, nb = 0.0, 0
        for i in range(0, len(shuffled), bs):
            mel, ti, to = prepare_batch(shuffled[i:i + bs])
            loss, grads = loss_and_grad(model, mel, ti, to)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            ep_loss += loss.item()
            nb += 1
            step += 1
            if step % 10 == 0 or step <= 2:
                print(f"  step {step}/{n_steps}: loss={ep_loss / nb:.4f}", flush=True)
        train_loss = ep_loss / max(nb, 1)
        val_loss = evaluate(model, val_entries, bs)
        tag = ""
        if val_loss < best_val:
            best_val = val_loss
            tag = " *best*"
        print(f"Epoch {epoch + 1}/{epochs}: train={train_loss:.4f} val={val_loss:.4f} "
              f"({time.time() - t0:.1f}s){tag}", flush=True)
    print(f"\nDone. Best val loss: {best_val:.4f}")


if __name__ == "__main__":
    main()
