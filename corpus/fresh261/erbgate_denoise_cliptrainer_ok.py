"""Small speech-denoiser trainer (DeepFilterNet-style ERB gain stage) on synthetic data.

Noisy harmonic "voice" clips -> STFT (hann, n_fft 256, hop 128) -> ERB-band log-power
features + low-band complex features -> per-band gain -> enhanced spectrum.
"""

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SR = 16000
N_FFT = 256
HOP = 128
N_FREQ = N_FFT // 2 + 1
NB_ERB = 16
NB_DF = 32
CLIP_LEN = 4096


@dataclass
class TrainConfig:
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 30
    max_steps: int = 200
    grad_clip: float = 1.0
    batch_size: int = 16
    log_every: int = 20
    eval_every: int = 50
    save_every: int = 100
    checkpoint_dir: str = "checkpoints"


# ============================================================================
# Front end
# ============================================================================


def hann_window(n: int) -> mx.array:
    return mx.array(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n), dtype=mx.float32)


def stft(audio: mx.array, n_fft: int = N_FFT, hop_length: int = HOP) -> Tuple[mx.array, mx.array]:
    """(batch, samples) -> real, imag of shape (batch, frames, n_fft//2+1)."""
    pad = n_fft // 2
    audio = mx.pad(audio, [(0, 0), (pad, pad)])
    n_frames = 1 + (audio.shape[1] - n_fft) // hop_length
    idx = mx.arange(n_fft)[None, :] + hop_length * mx.arange(n_frames)[:, None]
    frames = audio[:, idx] * hann_window(n_fft)
    spec = mx.fft.rfft(frames, axis=-1)
    return mx.real(spec), mx.imag(spec)


def erb_band_matrix(nb_bands: int = NB_ERB) -> np.ndarray:
    """Rectangular ERB-spaced band assignment, (n_freq, nb_bands), columns normalised."""
    freqs = np.linspace(0, SR / 2, N_FREQ)
    erb = 21.4 * np.log10(1 + 0.00437 * freqs)
    edges = np.linspace(erb[1], erb[-1] + 1e-6, nb_bands + 1)
    band_of = np.clip(np.searchsorted(edges, erb, side="right") - 1, 0, nb_bands - 1)
    m = np.zeros((N_FREQ, nb_bands), dtype=np.float32)
    m[np.arange(N_FREQ), band_of] = 1.0
    return m


ERB_FB = erb_band_matrix()
ERB_POOL = mx.array(ERB_FB / np.maximum(ERB_FB.sum(0, keepdims=True), 1.0))
ERB_EXPAND = mx.array(ERB_FB.T)


def features(spec: Tuple[mx.array, mx.array]) -> Tuple[mx.array, mx.array]:
    re, im = spec
    power = re**2 + im**2
    feat_erb = mx.log10(power @ ERB_POOL + 1e-10)
    feat_erb = (feat_erb + 3.0) / 2.0
    mag = mx.sqrt(power[..., :NB_DF] + 1e-10)
    scale = mx.mean(mag, axis=(1, 2), keepdims=True) + 1e-6
    feat_spec = mx.concatenate([re[..., :NB_DF] / scale, im[..., :NB_DF] / scale], axis=-1)
    return feat_erb, feat_spec


# ============================================================================
# Model
# ============================================================================


class ErbGateNet(nn.Module):
    def __init__(self, hidden: int = 64):
        super().__init__()
        self.erb_in = nn.Linear(NB_ERB, hidden)
        self.df_in = nn.Linear(2 * NB_DF, hidden)
        self.temporal = nn.Conv1d(hidden, hidden, kernel_size=3, padding=1)
        self.mix = nn.Linear(hidden, hidden)
        self.gain_out = nn.Linear(hidden, NB_ERB)

    def __call__(self, spec, feat_erb, feat_spec):
        h = nn.relu(self.erb_in(feat_erb) + self.df_in(feat_spec))
        h = h + nn.relu(self.temporal(h))
        h = nn.relu(self.mix(h))
        gains = mx.sigmoid(self.gain_out(h)) @ ERB_EXPAND
        re, im = spec
        return re * gains, im * gains


def count_parameters(model: nn.Module) -> int:
    from mlx.utils import tree_flatten

    return sum(v.size for _, v in tree_flatten(model.parameters()))


# ============================================================================
# Loss
# ============================================================================


def spectral_loss(
    pred: Tuple[mx.array, mx.array],
    target: Tuple[mx.array, mx.array],
    alpha: float = 0.5,
) -> mx.array:
    pred_real, pred_imag = pred
    target_real, target_imag = target

    pred_mag = mx.sqrt(pred_real**2 + pred_imag**2 + 1e-8)
    target_mag = mx.sqrt(target_real**2 + target_imag**2 + 1e-8)
    mag_loss = mx.mean(mx.abs(pred_mag - target_mag))

    complex_loss = mx.mean(mx.abs(pred_real - target_real) + mx.abs(pred_imag - target_imag))

    return (1 - alpha) * mag_loss + alpha * complex_loss


class WarmupCosineSchedule:
    def __init__(self, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 1e-6):
        self.base_lr = base_lr
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_lr = min_lr

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.base_lr * step / max(self.warmup_steps, 1)
        progress = (step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1)
        progress = min(progress, 1.0)
        cosine_decay = 0.5 * (1 + np.cos(np.pi * progress))
        return self.min_lr + (self.base_lr - self.min_lr) * cosine_decay


# ============================================================================
# Data
# ============================================================================


def synth_batch(rng: np.random.Generator, batch: int):
    t = np.arange(CLIP_LEN) / SR
    k = np.arange(1, 12)[None, :, None]
    f0 = rng.uniform(110, 260, size=(batch, 1, 1))
    amp = rng.uniform(0.2, 1.0, size=(batch, 11, 1)) / k
    phase = rng.uniform(0, 6.28, size=(batch, 11, 1))
    clean = np.sum(amp * np.sin(2 * np.pi * f0 * k * t + phase), axis=1)
    env = np.clip(np.sin(np.pi * t / t[-1] * rng.uniform(1, 3, size=(batch, 1))), 0, None) ** 2
    clean = (clean * env * rng.uniform(0.3, 1.0, size=(batch, 1))).astype(np.float32)
    white = rng.standard_normal((batch, CLIP_LEN)).astype(np.float32)
    pink = np.cumsum(white, axis=1)
    pink -= pink.mean(axis=1, keepdims=True)
    noise = 0.6 * white + 0.05 * pink
    snr_db = rng.uniform(-2, 8, size=(batch, 1))
    p_clean = np.mean(clean**2, axis=1, keepdims=True) + 1e-8
    p_noise = np.mean(noise**2, axis=1, keepdims=True)
    noise *= np.sqrt(p_clean / (p_noise * 10 ** (snr_db / 10)))
    return mx.array(clean + noise.astype(np.float32)), mx.array(clean)


def make_loader(seed: int, batch: int, n_batches: Optional[int] = None) -> Iterator:
    rng = np.random.default_rng(seed)
    i = 0
    while n_batches is None or i < n_batches:
        noisy, clean = synth_batch(rng, batch)
        spec = stft(noisy)
        target = stft(clean)
        feat_erb, feat_spec = features(spec)
        yield spec, feat_erb, feat_spec, target
        i += 1


def spectral_snr_db(pred, target) -> float:
    err = (pred[0] - target[0]) ** 2 + (pred[1] - target[1]) ** 2
    sig = target[0] ** 2 + target[1] ** 2
    return float(10 * mx.log10(mx.sum(sig) / (mx.sum(err) + 1e-10)))


# ============================================================================
# Trainer
# ============================================================================


class Trainer:
    def __init__(self, model: ErbGateNet, config: TrainConfig, optimizer: Optional[optim.Optimizer] = None):
        self.model = model
        self.config = config

        if optimizer is None:
            self.optimizer = optim.AdamW(
                learning_rate=config.learning_rate,
                weight_decay=config.weight_decay,
            )
        else:
            self.optimizer = optimizer

        self.lr_schedule = WarmupCosineSchedule(
            base_lr=config.learning_rate,
            warmup_steps=config.warmup_steps,
            total_steps=config.max_steps,
        )

        self.step = 0
        self.best_loss = float("inf")

        self.checkpoint_dir = Path(config.checkpoint_dir)
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)

    def loss_fn(self, model, spec, feat_erb, feat_spec, target) -> mx.array:
        pred = model(spec, feat_erb, feat_spec)
        return spectral_loss(pred, target)

    def train_step(self, spec, feat_erb, feat_spec, target) -> float:
        lr = self.lr_schedule(self.step)
        self.optimizer.learning_rate = lr

        loss_and_grad_fn = nn.value_and_grad(self.model, self.loss_fn)
        loss, grads = loss_and_grad_fn(self.model, spec, feat_erb, feat_spec, target)

        # Gradient clipping
        if self.config.grad_clip > 0:
            grads, _ = optim.clip_grad_norm(grads, self.config.grad_clip)

        self.optimizer.update(self.model, grads)

        mx.eval(loss)

        self.step += 1
        return float(loss)

    def train(self, train_loader: Iterator, val_batches=None, num_steps: Optional[int] = None) -> Dict[str, Any]:
        if num_steps is None:
            num_steps = self.config.max_steps

        history = {"train_loss": [], "val_loss": [], "learning_rate": []}

        print(f"Starting training for {num_steps} steps...")
        print(f"Model parameters: {count_parameters(self.model):,}")

        start_time = time.time()
        running_loss = 0.0

        for batch in train_loader:
            if self.step >= num_steps:
                break

            spec, feat_erb, feat_spec, target = batch

            loss = self.train_step(spec, feat_erb, feat_spec, target)
            running_loss += loss

            if self.step % self.config.log_every == 0:
                avg_loss = running_loss / self.config.log_every
                lr = self.lr_schedule(self.step)
                elapsed = time.time() - start_time
                steps_per_sec = self.step / elapsed if elapsed > 0 else 0
                print(f"Step {self.step:6d} | Loss: {avg_loss:.4f} | LR: {lr:.2e} | Steps/s: {steps_per_sec:.2f}")
                history["train_loss"].append(avg_loss)
                history["learning_rate"].append(lr)
                running_loss = 0.0

            if val_batches is not None and self.step % self.config.eval_every == 0:
                val_loss, snr_in, snr_out = self.evaluate(val_batches)
                history["val_loss"].append(val_loss)
                print(f"  Validation loss: {val_loss:.4f} | spectral SNR in {snr_in:+.2f} dB -> out {snr_out:+.2f} dB")
                if val_loss < self.best_loss:
                    self.best_loss = val_loss
                    self.save_checkpoint("best.safetensors")

            if self.step % self.config.save_every == 0:
                self.save_checkpoint(f"step_{self.step}.safetensors")

        self.save_checkpoint("final.safetensors")

        total_time = time.time() - start_time
        print(f"\nTraining complete in {total_time:.1f}s")
        print(f"Best validation loss: {self.best_loss:.4f}")
        return history

    def evaluate(self, val_batches) -> Tuple[float, float, float]:
        total_loss, snr_in, snr_out = 0.0, 0.0, 0.0
        for spec, feat_erb, feat_spec, target in val_batches:
            pred = self.model(spec, feat_erb, feat_spec)
            loss = spectral_loss(pred, target)
            mx.eval(loss)
            total_loss += float(loss)
            snr_in += spectral_snr_db(spec, target)
            snr_out += spectral_snr_db(pred, target)
        n = max(len(val_batches), 1)
        return total_loss / n, snr_in / n, snr_out / n

    def save_checkpoint(self, filename: str):
        from mlx.utils import tree_flatten

        path = self.checkpoint_dir / filename

        # Save weights - flatten the nested dict to a flat dict for safetensors
        params = self.model.parameters()
        flat_params = tree_flatten(params)
        weights = {k: v for k, v in flat_params}
        mx.save_safetensors(str(path), weights)

        state_path = path.parent / (path.stem + ".json")
        state = {
            "step": self.step,
            "best_loss": self.best_loss,
            "config": {
                "learning_rate": self.config.learning_rate,
                "weight_decay": self.config.weight_decay,
                "warmup_steps": self.config.warmup_steps,
            },
        }
        with open(state_path, "w") as f:
            json.dump(state, f, indent=2)

        print(f"Saved checkpoint: {path}")


def main():
    mx.random.seed(0)
    ckpt_dir = tempfile.mkdtemp()
    config = TrainConfig(checkpoint_dir=ckpt_dir)
    model = ErbGateNet()
    mx.eval(model.parameters())
    trainer = Trainer(model, config)

    val_batches = list(make_loader(seed=999, batch=32, n_batches=2))
    mx.eval(val_batches)
    v0, s_in, s_out = trainer.evaluate(val_batches)
    print(f"Untrained: val loss {v0:.4f} | spectral SNR in {s_in:+.2f} dB -> out {s_out:+.2f} dB")

    trainer.train(make_loader(seed=1, batch=config.batch_size), val_batches=val_batches)
    v1, s_in, s_out = trainer.evaluate(val_batches)
    print(f"Final: val loss {v1:.4f} | SNR gain {s_out - s_in:+.2f} dB")


if __name__ == "__main__":
    main()
