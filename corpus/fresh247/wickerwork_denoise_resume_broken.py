"""Mask-based spectral denoiser trained in preemptible sessions.

Each session builds the model and optimizer again, resumes from the newest
checkpoint in the checkpoint folder, trains for at most EPOCHS_PER_SESSION
epochs and saves a checkpoint after every epoch (the way a cluster job that is
killed every few hours gets run).
"""

import json
import tempfile
import time
from pathlib import Path
from typing import Dict

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_BINS = 48
HIDDEN = 96
NUM_EPOCHS = 12
EPOCHS_PER_SESSION = 4
BATCH_SIZE = 64
LR = 1e-3


# ----------------------------------------------------------------------------
# synthetic data: harmonic "voiced" frames plus coloured noise, magnitudes only
# ----------------------------------------------------------------------------
def make_frames(n, rng):
    bins = np.arange(N_BINS, dtype=np.float32)
    clean = np.zeros((n, N_BINS), dtype=np.float32)
    f0 = rng.uniform(2.5, 7.0, size=n)
    tilt = rng.uniform(0.15, 0.45, size=n)
    for h in range(1, 12):
        centre = (f0 * h)[:, None]
        amp = np.exp(-tilt * (h - 1))[:, None]
        clean += amp * np.exp(-0.5 * ((bins[None, :] - centre) / 0.7) ** 2)
    clean *= rng.uniform(0.5, 1.5, size=(n, 1)).astype(np.float32)
    slope = rng.uniform(-0.04, 0.0, size=(n, 1))
    colour = np.exp(slope * bins[None, :])
    snr_db = rng.uniform(-6.0, 6.0, size=(n, 1))
    level = np.sqrt((clean ** 2).mean(axis=1, keepdims=True) / (10 ** (snr_db / 10)))
    noise = np.abs(rng.normal(size=(n, N_BINS))) * colour
    noise *= level / np.sqrt((noise ** 2).mean(axis=1, keepdims=True))
    noisy = clean + noise.astype(np.float32)
    return noisy.astype(np.float32), clean.astype(np.float32)


class FrameDataset:
    def __init__(self, n, seed):
        self.rng = np.random.default_rng(seed)
        self.noisy, self.clean = make_frames(n, self.rng)

    def __len__(self):
        return len(self.noisy)

    def get_batch(self, batch_size):
        idx = self.rng.integers(0, len(self.noisy), size=batch_size)
        return mx.array(self.noisy[idx]), mx.array(self.clean[idx])


# ----------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------
class MaskDenoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [
            nn.Linear(N_BINS, HIDDEN),
            nn.Linear(HIDDEN, HIDDEN),
            nn.Linear(HIDDEN, HIDDEN),
        ]
        self.mask_head = nn.Linear(HIDDEN, N_BINS)

    def __call__(self, noisy_mag):
        x = mx.log1p(noisy_mag)
        for layer in self.layers:
            x = nn.gelu(layer(x))
        mask = mx.sigmoid(self.mask_head(x))
        return mask * noisy_mag


def loss_terms(model, noisy, clean):
    enhanced = model(noisy)
    l1 = mx.mean(mx.abs(enhanced - clean))
    spec = mx.mean((mx.power(enhanced + 1e-6, 0.3) - mx.power(clean + 1e-6, 0.3)) ** 2)
    return l1 + 2.0 * spec, (l1, spec)


def loss_fn(model, noisy, clean):
    total, _ = loss_terms(model, noisy, clean)
    return total


def snr_db(est, ref):
    err = mx.sum((est - ref) ** 2, axis=-1)
    sig = mx.sum(ref ** 2, axis=-1)
    return mx.mean(10 * mx.log10(sig / (err + 1e-8)))


def validate(model, val_ds) -> Dict[str, float]:
    noisy = mx.array(val_ds.noisy)
    clean = mx.array(val_ds.clean)
    total, (l1, spec) = loss_terms(model, noisy, clean)
    gain = snr_db(model(noisy), clean) - snr_db(noisy, clean)
    return {"total": total.item(), "l1": l1.item(), "spec": spec.item(), "snr_gain_db": gain.item()}


# ----------------------------------------------------------------------------
# checkpoints
# ----------------------------------------------------------------------------
def _unflatten_dict(flat_dict: Dict[str, mx.array]) -> Dict:
    """Convert flat dictionary with dot-separated keys to nested dictionary."""
    result = {}
    for key, value in flat_dict.items():
        parts = key.split(".")
        current = result
        for part in parts[:-1]:
            if part not in current:
                current[part] = {}
            current = current[part]
        current[parts[-1]] = value
    return result


def load_checkpoint(checkpoint_dir: Path, model: nn.Module) -> tuple[int, int]:
    """Load latest checkpoint and restore model weights.

    Returns:
        (step, epoch) tuple, or (0, 0) if no checkpoint found
    """
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.exists():
        return 0, 0

    state_files = sorted(checkpoint_dir.glob("step_*_state.json"))
    if not state_files:
        return 0, 0

    latest_state_file = state_files[-1]
    latest_step = int(latest_state_file.stem.split("_")[1])

    with open(latest_state_file) as f:
        state = json.load(f)

    step = state.get("step", 0)
    epoch = state.get("epoch", 0)

    weights_file = checkpoint_dir / f"step_{latest_step:06d}.safetensors"
    if weights_file.exists():
        try:
            # mx.load returns a flat dict with keys like "linear1.weight"
            flat_weights = mx.load(str(weights_file))
            # Convert to nested dict for model.update()
            nested_weights = _unflatten_dict(flat_weights)
            # Update model parameters
            model.update(nested_weights)
            print(f"Loaded checkpoint from step {step}, epoch {epoch}")
            return step, epoch
        except Exception as e:
            print(f"Failed to load checkpoint: {e}")
            return 0, 0

    return 0, 0


def save_checkpoint(model, step, epoch, metrics, checkpoint_dir: Path):
    from mlx.utils import tree_flatten

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    weights_path = checkpoint_dir / f"step_{step:06d}.safetensors"
    mx.save_safetensors(str(weights_path), dict(tree_flatten(model.parameters())))
    state = {"step": step, "epoch": epoch, "metrics": metrics}
    with open(checkpoint_dir / f"step_{step:06d}_state.json", "w") as f:
        json.dump(state, f, indent=2)


# ----------------------------------------------------------------------------
# one preemptible session
# ----------------------------------------------------------------------------
def run_session(session, checkpoint_dir, train_ds, val_ds):
    mx.random.seed(1000 + session)
    model = MaskDenoiser()
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=LR, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    step = 0
    resume_epoch = 0
    loaded_step, loaded_epoch = load_checkpoint(checkpoint_dir, model)
    if loaded_step > 0:
        step = loaded_step
        resume_epoch = loaded_epoch
        print(f"Resuming from checkpoint: step={step}, epoch={loaded_epoch}")

    steps_per_epoch = len(train_ds) // BATCH_SIZE
    last_epoch = min(resume_epoch + EPOCHS_PER_SESSION, NUM_EPOCHS)
    for epoch in range(resume_epoch, last_epoch):
        t0 = time.time()
        running = 0.0
        for _ in range(steps_per_epoch):
            noisy, clean = train_ds.get_batch(BATCH_SIZE)
            loss, grads = loss_and_grad(model, noisy, clean)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            running += loss.item()
            step += 1
        val = validate(model, val_ds)
        print(
            f"[session {session}] epoch {epoch + 1:2d}/{NUM_EPOCHS} step {step:4d} | "
            f"train {running / steps_per_epoch:.4f} | val {val['total']:.4f} "
            f"(l1 {val['l1']:.4f} spec {val['spec']:.4f}) | snr gain {val['snr_gain_db']:+.2f} dB | "
            f"{time.time() - t0:.1f}s"
        )
        save_checkpoint(model, step, epoch + 1, val, checkpoint_dir)
    return model, step, last_epoch


def main():
    train_ds = FrameDataset(6144, seed=11)
    val_ds = FrameDataset(1024, seed=12)
    base = validate_identity(val_ds)
    print(f"frames: train {len(train_ds)}  val {len(val_ds)}  bins {N_BINS}")
    print(f"pass-through reference: val {base:.4f}  snr gain +0.00 dB")

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "checkpoints"
        session = 0
        done_epochs = 0
        model = None
        step = 0
        while done_epochs < NUM_EPOCHS and session < 3:
            session += 1
            print(f"--- session {session} ---")
            model, step, done_epochs = run_session(session, ckpt, train_ds, val_ds)
        final = validate(model, val_ds)
    print(
        f"finished after {session} sessions: epochs {done_epochs}/{NUM_EPOCHS}, steps {step}, "
        f"val {final['total']:.4f}, snr gain {final['snr_gain_db']:+.2f} dB"
    )


def validate_identity(val_ds):
    noisy = mx.array(val_ds.noisy)
    clean = mx.array(val_ds.clean)
    l1 = mx.mean(mx.abs(noisy - clean))
    spec = mx.mean((mx.power(noisy + 1e-6, 0.3) - mx.power(clean + 1e-6, 0.3)) ** 2)
    return (l1 + 2.0 * spec).item()


if __name__ == "__main__":
    main()
