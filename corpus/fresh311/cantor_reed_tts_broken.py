"""Fine-tune a tiny text-to-spectrogram model on a folder of recorded sentences.

recordings/<id>.wav + sentences.tsv (audio_path, sentence), as exported by the
recording app. Trains a character encoder + frame decoder on log-band spectra.
"""
import argparse
import csv
import os
import tempfile
import time
import wave

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SR = 8000
N_FRAMES = 24
FRAME = 256
N_BANDS = 16
ALPHABET = "abcdefghijklmnopqrstuvwxyz "
MAX_CHARS = 24


def read_wav(path):
    with wave.open(path, "rb") as w:
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0, SR


def record_session(root, n=96, seed=0):
    rng = np.random.default_rng(seed)
    words = ["amma", "thaththa", "gedara", "wathura", "kanna", "yanna", "enna", "hari", "lassanai", "pansala"]
    os.makedirs(os.path.join(root, "recordings"), exist_ok=True)
    tsv = os.path.join(root, "sentences.tsv")
    with open(tsv, "w", newline="") as f:
        wr = csv.writer(f, delimiter="\t")
        wr.writerow(["audio_path", "sentence"])
        for i in range(n):
            sent = " ".join(rng.choice(words, size=rng.integers(2, 4)))
            t = np.arange(N_FRAMES * FRAME) / SR
            sig = np.zeros_like(t)
            seg = len(t) // len(sent)
            for k, ch in enumerate(sent):
                if ch == " ":
                    continue
                f0 = 180.0 + 40.0 * (ord(ch) - 97) / 2.0
                sl = slice(k * seg, (k + 1) * seg)
                sig[sl] = 0.5 * np.sin(2 * np.pi * f0 * t[sl]) + 0.2 * np.sin(4 * np.pi * f0 * t[sl])
            sig += 0.01 * rng.standard_normal(len(t))
            path = os.path.join(root, "recordings", f"utt_{i:03d}.wav")
            with wave.open(path, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(SR)
                w.writeframes((np.clip(sig, -1, 1) * 32767).astype(np.int16).tobytes())
            wr.writerow([path, sent])
    return tsv


def load_samples(tsv_path):
    samples = []
    with open(tsv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        for row in reader:
            path = row.get("audio_path", "").strip()
            sentence = row.get("sentence", "").strip()
            if path and sentence and os.path.exists(path):
                samples.append({"audio_path": path, "sentence": sentence})
    print(f"Loaded {len(samples)} recordings from {tsv_path}")
    return samples


class TTSDataCollator:
    def __init__(self, text_column, audio_column):
        self.text_column = text_column
        self.audio_column = audio_column

    def log_bands(self, wav):
        wav = wav[: N_FRAMES * FRAME].reshape(N_FRAMES, FRAME) * np.hanning(FRAME)
        mag = np.abs(np.fft.rfft(wav, axis=-1))[:, 1:129]
        return np.log1p(mag.reshape(N_FRAMES, N_BANDS, -1).mean(-1)).astype(np.float32)

    def __call__(self, batch):
        ids = np.full((len(batch), MAX_CHARS), len(ALPHABET), dtype=np.int32)
        specs = []
        for i, ex in enumerate(batch):
            text = ex[self.text_column][:MAX_CHARS]
            ids[i, : len(text)] = [ALPHABET.index(c) for c in text]
            wav = np.array(ex[self.audio_column])
            specs.append(self.log_bands(wav.astype(np.float32)))
        return mx.array(ids), mx.array(np.stack(specs))


class TinyTTS(nn.Module):
    def __init__(self, dims=48):
        super().__init__()
        self.emb = nn.Embedding(len(ALPHABET) + 1, dims)
        self.pos = nn.Embedding(MAX_CHARS, dims)
        self.enc = nn.TransformerEncoder(1, dims, 4, mlp_dims=96)
        self.query = nn.Embedding(N_FRAMES, dims)
        self.attn = nn.MultiHeadAttention(dims, 4)
        self.out = nn.Sequential(nn.Linear(dims, dims), nn.GELU(), nn.Linear(dims, N_BANDS))

    def __call__(self, ids):
        h = self.emb(ids) + self.pos(mx.arange(ids.shape[1]))
        h = self.enc(h, None)
        q = mx.broadcast_to(self.query.weight, (ids.shape[0], N_FRAMES, h.shape[-1]))
        return self.out(self.attn(q, h, h))


class TTSSFTTrainer:
    def __init__(self, model, collator, train_dataset, lr, batch_size, max_steps):
        self.model, self.collator, self.data = model, collator, train_dataset
        self.batch_size, self.max_steps = batch_size, max_steps
        self.opt = optim.Adam(learning_rate=lr)

    def train(self):
        def loss_fn(m, ids, spec):
            return nn.losses.mse_loss(m(ids), spec)

        step_fn = nn.value_and_grad(self.model, loss_fn)
        rng = np.random.default_rng(1)
        t0 = time.time()
        for step in range(1, self.max_steps + 1):
            idx = rng.choice(len(self.data), self.batch_size, replace=False)
            ids, spec = self.collator([self.data[i] for i in idx])
            loss, grads = step_fn(self.model, ids, spec)
            self.opt.update(self.model, grads)
            mx.eval(self.model.parameters(), self.opt.state, loss)
            if step % 20 == 0 or step == 1:
                print(f"step {step:4d} | loss {loss.item():.4f} | {time.time() - t0:.1f}s")
        return loss.item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=160)
    p.add_argument("--lr", type=float, default=3e-3)
    args = p.parse_args()
    mx.random.seed(0)
    root = tempfile.mkdtemp()
    tsv = record_session(root)
    samples = load_samples(tsv)

    model = TinyTTS()
    collator = TTSDataCollator(
        text_column="sentence",
        audio_column="audio_path",
    )
    trainer = TTSSFTTrainer(model, collator, samples, args.lr, 16, args.steps)
    final = trainer.train()
    ids, spec = collator(samples[:32])
    print(f"final train loss {final:.4f} | held spectra mse {nn.losses.mse_loss(model(ids), spec).item():.4f}")
    print(f"mean-spectrum baseline mse {nn.losses.mse_loss(mx.broadcast_to(spec.mean(0), spec.shape), spec).item():.4f}")


if __name__ == "__main__":
    main()
