"""Tiny HiFi-GAN style vocoder: log-mel frames -> waveform, LSGAN + feature matching + mel L1.

Synthetic "voice" clips: a few harmonics with a gliding pitch and a slow amplitude envelope,
plus a little breath noise. Target mels come from the shared front-end below.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SR = 8000
N_FFT = 128
HOP = 32
WIN = 128
N_MELS = 24
SEG = 1024            # samples per training clip
BATCH = 6
STEPS = 100
C_MEL = 45.0
C_FM = 2.0


# ---------------------------------------------------------------------------
# shared spectrogram front-end
# ---------------------------------------------------------------------------

def _hann_window(n):
    return np.hanning(n + 1).astype(np.float32)[:n]


def _reflect_pad(x, left, right):
    return np.pad(x, ((0, 0), (left, right)), mode="reflect")


def mel_filterbank(sr, n_fft, n_mels, fmin=0.0, fmax=None):
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    fmax = sr / 2 if fmax is None else fmax
    mels = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    freqs = mel_to_hz(mels)
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((n_mels, len(fft_freqs)), dtype=np.float32)
    for i in range(n_mels):
        left, center, right = freqs[i], freqs[i + 1], freqs[i + 2]
        up = (fft_freqs - left) / max(center - left, 1e-10)
        down = (right - fft_freqs) / max(right - center, 1e-10)
        fb[i] = np.maximum(0, np.minimum(up, down))
    enorm = 2.0 / (freqs[2:n_mels + 2] - freqs[:n_mels])
    fb *= enorm[:, None]
    return fb


def stft_magnitude(y, n_fft, hop_size, win_size):
    """y (B, T) -> magnitude (B, n_fft//2+1, T')."""
    x = np.array(y.astype(mx.float32), dtype=np.float32)
    pad = (n_fft - hop_size) // 2
    if pad:
        x = _reflect_pad(x, pad, pad)
    win = _hann_window(win_size)
    b, t = x.shape
    n_frames = 1 + (t - n_fft) // hop_size if t >= n_fft else 0
    idx = np.arange(n_fft)[None, :] + hop_size * np.arange(n_frames)[:, None]
    frames = x[:, idx] * win[None, None, :]
    spec = np.fft.rfft(frames, axis=-1)
    mag = np.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-8)
    return mx.array(mag.transpose(0, 2, 1))


def _hann_window_mx(n, dtype=mx.float32):
    k = mx.arange(n).astype(dtype)
    return 0.5 - 0.5 * mx.cos(2.0 * 3.141592653589793 * k / n)


def _reflect_pad_mx(x, left, right):
    """(B, T) reflect pad in mx."""
    if left == 0 and right == 0:
        return x
    parts = [x]
    if left > 0:
        parts.insert(0, x[:, 1:left + 1][:, ::-1])
    if right > 0:
        t = x.shape[1]
        parts.append(x[:, t - right - 1:t - 1][:, ::-1])
    return mx.concatenate(parts, axis=1)


def stft_mag_mx(y, n_fft, hop_size, win_size):
    """(B, T) -> magnitude (B, n_fft//2+1, T')."""
    x = _reflect_pad_mx(y.astype(mx.float32), (n_fft - hop_size) // 2, (n_fft - hop_size) // 2)
    b, t = x.shape
    n_frames = 1 + (t - n_fft) // hop_size if t >= n_fft else 0
    win = _hann_window_mx(win_size)
    idx = mx.arange(n_fft)[None, :] + hop_size * mx.arange(n_frames)[:, None]
    frames = x[:, idx] * win[None, None, :]
    spec = mx.fft.rfft(frames, axis=-1)
    mag = mx.sqrt(spec.real * spec.real + spec.imag * spec.imag + 1e-8)
    return mag.transpose(0, 2, 1)


MEL_BASIS = mx.array(mel_filterbank(SR, N_FFT, N_MELS))


def spec_to_mel(spec, mel_basis):
    return mx.log(mx.maximum(mel_basis @ spec, 1e-5))


def mel_spectrogram_train(y, mel_basis, n_fft, hop_size, win_size):
    """Mel of generated audio (B, T) -> (B, n_mels, T')."""
    spec = stft_mag_mx(y, n_fft, hop_size, win_size)
    return spec_to_mel(spec, mel_basis)


# ---------------------------------------------------------------------------
# synthetic clips
# ---------------------------------------------------------------------------

def make_clips(n, rng):
    t = np.arange(SEG, dtype=np.float32) / SR
    out = np.zeros((n, SEG), dtype=np.float32)
    for i in range(n):
        f0 = rng.uniform(110.0, 330.0)
        glide = rng.uniform(-0.25, 0.25)
        f_t = f0 * (1.0 + glide * t / t[-1])
        phase = 2 * np.pi * np.cumsum(f_t) / SR
        env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1.0, 4.0) * t + rng.uniform(0, 6.28))
        wave = np.zeros(SEG, dtype=np.float32)
        for h in range(1, 5):
            wave += (0.6 / h) * np.sin(h * phase + rng.uniform(0, 6.28))
        wave = 0.45 * env * wave / 1.3 + 0.01 * rng.standard_normal(SEG)
        out[i] = wave
    return out


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------

class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_pre = nn.Conv1d(N_MELS, 32, 5, padding=2)
        self.up1 = nn.ConvTranspose1d(32, 16, 8, stride=4, padding=2)
        self.res1 = nn.Conv1d(16, 16, 3, padding=1)
        self.up2 = nn.ConvTranspose1d(16, 8, 16, stride=8, padding=4)
        self.res2 = nn.Conv1d(8, 8, 7, padding=3)
        self.conv_post = nn.Conv1d(8, 1, 7, padding=3)

    def __call__(self, mel):                       # mel (B, n_mels, T)
        x = self.conv_pre(mel.transpose(0, 2, 1))  # NLC
        x = self.up1(nn.leaky_relu(x, 0.1))
        x = x + self.res1(nn.leaky_relu(x, 0.1))
        x = self.up2(nn.leaky_relu(x, 0.1))
        x = x + self.res2(nn.leaky_relu(x, 0.1))
        x = self.conv_post(nn.leaky_relu(x, 0.1))
        return mx.tanh(x)[..., 0]                  # (B, T * HOP)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = [
            nn.Conv1d(1, 8, 9, padding=4),
            nn.Conv1d(8, 16, 9, stride=4, padding=4),
            nn.Conv1d(16, 32, 9, stride=4, padding=4),
        ]
        self.conv_post = nn.Conv1d(32, 1, 3, padding=1)

    def __call__(self, y):                         # y (B, T)
        x = y[..., None]
        fmap = []
        for c in self.convs:
            x = nn.leaky_relu(c(x), 0.1)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return x.reshape(x.shape[0], -1), fmap


def discriminator_loss(dr, dg):
    return mx.mean((1 - dr) ** 2) + mx.mean(dg ** 2)


def generator_adv_loss(dg):
    return mx.mean((1 - dg) ** 2)


def feature_loss(fmap_r, fmap_g):
    loss = mx.zeros(())
    for rl, gl in zip(fmap_r, fmap_g):
        loss = loss + mx.mean(mx.abs(mx.stop_gradient(rl) - gl))
    return loss * 2


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------

def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    train_wav = make_clips(256, rng)
    val_wav = make_clips(32, rng)
    train_mel = mel_spectrogram_train(mx.array(train_wav), MEL_BASIS, N_FFT, HOP, WIN)
    val_mel = mel_spectrogram_train(mx.array(val_wav), MEL_BASIS, N_FFT, HOP, WIN)
    train_wav, val_wav = mx.array(train_wav), mx.array(val_wav)
    print(f"clips: train {train_wav.shape[0]} val {val_wav.shape[0]}, "
          f"{SEG} samples @ {SR} Hz, mel {tuple(train_mel.shape[1:])}")

    gen, disc = Generator(), Discriminator()
    mx.eval(gen.parameters(), disc.parameters())
    opt_g = optim.AdamW(learning_rate=2e-3, betas=[0.8, 0.99], weight_decay=0.01)
    opt_d = optim.AdamW(learning_rate=2e-3, betas=[0.8, 0.99], weight_decay=0.01)

    def d_loss_fn(disc, y, y_hat):
        dr, _ = disc(y)
        dg, _ = disc(mx.stop_gradient(y_hat))
        return discriminator_loss(dr, dg)

    def g_loss_fn(gen, disc, mel, y):
        y_hat = gen(mel)
        y_hat_mel = mel_spectrogram_train(y_hat, MEL_BASIS, N_FFT, HOP, WIN)
        loss_mel = mx.mean(mx.abs(mel - y_hat_mel)) * C_MEL
        dr, fmap_r = disc(y)
        dg, fmap_g = disc(y_hat)
        loss_fm = feature_loss(fmap_r, fmap_g) * C_FM
        loss_adv = generator_adv_loss(dg)
        return loss_mel + loss_fm + loss_adv, loss_mel, loss_fm, loss_adv

    d_step = nn.value_and_grad(disc, d_loss_fn)
    g_step = nn.value_and_grad(gen, lambda g, mel, y: g_loss_fn(g, disc, mel, y))

    def val_mel_l1():
        y_hat = gen(val_mel)
        return mx.mean(mx.abs(val_mel - mel_spectrogram_train(y_hat, MEL_BASIS, N_FFT, HOP, WIN))).item()

    silent = mx.mean(mx.abs(val_mel - mel_spectrogram_train(mx.zeros_like(val_wav), MEL_BASIS, N_FFT, HOP, WIN))).item()
    print(f"val mel-L1 of untrained generator {val_mel_l1():.3f} | silence baseline {silent:.3f}")

    tic = time.perf_counter()
    n = train_wav.shape[0]
    for step in range(1, STEPS + 1):
        idx = mx.array(rng.choice(n, BATCH, replace=False))
        mel, y = train_mel[idx], train_wav[idx]

        y_hat = gen(mel)
        loss_d, grads_d = d_step(disc, y, y_hat)
        opt_d.update(disc, grads_d)
        mx.eval(disc.parameters(), opt_d.state, loss_d)

        (total, loss_mel, loss_fm, loss_adv), grads_g = g_step(gen, mel, y)
        opt_g.update(gen, grads_g)
        mx.eval(gen.parameters(), opt_g.state, total)

        if step == 1 or step % 10 == 0:
            print(f"step {step:4d} | D {loss_d.item():.3f} | G total {total.item():7.3f} "
                  f"mel {loss_mel.item():7.3f} fm {loss_fm.item():.3f} adv {loss_adv.item():.3f} "
                  f"| {time.perf_counter() - tic:5.1f}s")
        if step % 50 == 0:
            print(f"  val mel-L1 {val_mel_l1():.3f} (silence baseline {silent:.3f})")

    print(f"done: val mel-L1 {val_mel_l1():.3f} vs silence {silent:.3f}, "
          f"{time.perf_counter() - tic:.1f}s")


if __name__ == "__main__":
    main()
