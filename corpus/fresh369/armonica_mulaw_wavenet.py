"""Glass armonica tones: 8-bit mu-law sample-level WaveNet.

Gated dilated causal stack (two-tap causal convolutions written as
shifted matmuls) over the previous mu-law codes, conditioned on
the played pitch, trained with a 256-way softmax. Progress in bits/sample next to
two reference numbers. Halfway through the run the weights and optimizer state
go to disk, everything is rebuilt from the files and training carries on.
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

SR = 8000
PITCHES = [220.0, 261.6, 293.7, 329.6, 392.0, 440.0, 523.3, 587.3]
SEQ = 128
BATCH = 8
STEPS = 260
HALF = 130
Q = 256


def mulaw_encode(x, mu=255.0):
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.clip(np.round((y + 1.0) / 2.0 * mu), 0, mu).astype(np.int32)


def mulaw_decode(c, mu=255.0):
    y = 2.0 * (c.astype(np.float64) / mu) - 1.0
    return np.sign(y) * ((1.0 + mu) ** np.abs(y) - 1.0) / mu


def armonica_clip(rng, pitch_idx, n):
    f0 = PITCHES[pitch_idx] * (1.0 + rng.uniform(-0.004, 0.004))
    t = np.arange(n) / SR
    vib = 0.003 * np.sin(2 * np.pi * rng.uniform(4.0, 6.0) * t + rng.uniform(0, 6.28))
    phase = 2 * np.pi * f0 * np.cumsum(1.0 + vib) / SR
    amps = [1.0, 0.35 * rng.uniform(0.7, 1.3), 0.12 * rng.uniform(0.5, 1.5)]
    sig = sum(a * np.sin((k + 1) * phase + rng.uniform(0, 6.28)) for k, a in enumerate(amps))
    swell = 0.55 + 0.35 * np.sin(2 * np.pi * rng.uniform(0.8, 2.0) * t + rng.uniform(0, 6.28))
    sig = 0.45 * swell * sig / 1.47
    sig = sig + rng.normal(0, 0.012, n)
    return np.clip(sig, -0.98, 0.98)


def make_set(rng, count):
    pitch = rng.integers(0, len(PITCHES), count)
    codes = np.stack([mulaw_encode(armonica_clip(rng, p, SEQ + 1)) for p in pitch])
    return codes, pitch.astype(np.int32)


class GatedLayer(nn.Module):
    def __init__(self, ch, dilation):
        super().__init__()
        self.dilation = dilation
        self.taps = nn.Linear(2 * ch, 2 * ch)
        self.cond = nn.Linear(ch, 2 * ch, bias=False)
        self.res = nn.Linear(ch, ch)
        self.skip = nn.Linear(ch, ch)

    def __call__(self, x, c):
        past = mx.pad(x, [(0, 0), (self.dilation, 0), (0, 0)])[:, : x.shape[1], :]
        h = self.taps(mx.concatenate([x, past], axis=-1)) + self.cond(c)[:, None, :]
        a, b = mx.split(h, 2, axis=-1)
        z = mx.tanh(a) * mx.sigmoid(b)
        return x + self.res(z), self.skip(z)


class MuLawWaveNet(nn.Module):
    def __init__(self, ch=16, dilations=(1, 2, 4, 8, 16, 32)):
        super().__init__()
        self.code_emb = nn.Embedding(Q, ch)
        self.pitch_emb = nn.Embedding(len(PITCHES), ch)
        self.layers = [GatedLayer(ch, d) for d in dilations]
        self.head1 = nn.Linear(ch, 48)
        self.head2 = nn.Linear(48, Q)

    def __call__(self, prev_codes, pitch):
        x = self.code_emb(prev_codes)
        c = self.pitch_emb(pitch)
        skips = 0.0
        for layer in self.layers:
            x, s = layer(x, c)
            skips = skips + s
        return self.head2(nn.relu(self.head1(nn.relu(skips))))


def loss_fn(model, codes, pitch):
    logits = model(codes[:, :-1], pitch)
    return nn.losses.cross_entropy(logits, codes[:, 1:], reduction="mean")


def bits(nats):
    return nats / math.log(2.0)


def build(lr_sched):
    model = MuLawWaveNet()
    opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
    return model, opt


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    train_codes, train_pitch = make_set(rng, 1024)
    val_codes, val_pitch = make_set(rng, 64)
    counts = np.bincount(train_codes[:, 1:].ravel(), minlength=Q).astype(np.float64)
    p = counts / counts.sum()
    marginal_bits = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
    print(f"clips: train {len(train_codes)}  val {len(val_codes)}  samples/clip {SEQ}")
    print(f"reference: uniform 8.000 bits/sample | code histogram entropy {marginal_bits:.3f} bits/sample")

    warm = optim.linear_schedule(0.0, 6e-3, 40)
    cos = optim.cosine_decay(6e-3, STEPS - 40, 2e-4)
    lr_sched = optim.join_schedules([warm, cos], [40])
    model, opt = build(lr_sched)
    mx.eval(model.parameters())
    n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"parameters: {n_par}")

    vcodes = mx.array(val_codes)
    vpitch = mx.array(val_pitch)

    def make_step(model, opt):
        lg = nn.value_and_grad(model, loss_fn)

        def step(codes, pitch):
            loss, grads = lg(model, codes, pitch)
            grads, gnorm = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            return loss, gnorm
        return step

    step_fn = make_step(model, opt)
    ckpt_dir = tempfile.mkdtemp(prefix="armonica_")
    t0 = time.time()
    run_loss = 0.0
    for it in range(1, STEPS + 1):
        idx = rng.integers(0, len(train_codes), BATCH)
        loss, gnorm = step_fn(mx.array(train_codes[idx]), mx.array(train_pitch[idx]))
        mx.eval(model.parameters(), opt.state, loss, gnorm)
        run_loss += loss.item()
        if it % 26 == 0:
            vloss = loss_fn(model, vcodes, vpitch).item()
            lr_now = opt.learning_rate.item()
            print(f"step {it:4d} | lr {lr_now:.2e} | train {bits(run_loss / 26):.3f} b/s | "
                  f"val {bits(vloss):.3f} b/s | gnorm {gnorm.item():.2f} | {time.time() - t0:.1f}s")
            run_loss = 0.0
        if it == HALF:
            before = loss_fn(model, vcodes, vpitch).item()
            model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            del model, opt, step_fn
            model, opt = build(lr_sched)
            model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            mx.eval(model.parameters(), opt.state)
            step_fn = make_step(model, opt)
            after = loss_fn(model, vcodes, vpitch).item()
            print(f"checkpoint at step {it}: reloaded, val {bits(before):.4f} -> {bits(after):.4f} b/s, "
                  f"optimizer step counter {opt.step.item()}")

    final = bits(loss_fn(model, vcodes, vpitch).item())
    print(f"final val {final:.3f} b/s vs histogram {marginal_bits:.3f} b/s (saving {marginal_bits - final:.2f})")

    # free-running generation, pitch read back from the spectrum
    n_gen = 256
    for pi in (1, 5):
        codes = [128]
        for _ in range(n_gen):
            ctx = mx.array([codes[-64:]])
            logits = model(ctx, mx.array([pi]))[:, -1, :]
            nxt = mx.random.categorical(logits)
            codes.append(int(nxt.item()))
        wav = mulaw_decode(np.array(codes[64:]))
        wav = wav - wav.mean()
        spec = np.abs(np.fft.rfft(wav * np.hanning(len(wav)), n=8192))
        freqs = np.fft.rfftfreq(8192, 1.0 / SR)
        band = (freqs > 150) & (freqs < 700)
        peak = freqs[band][np.argmax(spec[band])]
        print(f"generated pitch {PITCHES[pi]:.1f} Hz -> spectral peak {peak:.1f} Hz, rms {np.sqrt((wav ** 2).mean()):.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
