# Tiny text-conditioned latent denoiser, trained in "low_ram" mode:
# every training item is encoded once (latents + text features), written to an
# on-disk cache, and the training loop reads items back from that cache.
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


@dataclass(frozen=True)
class CachePaths:
    root: Path
    data: Path


class TrainingDataCache:
    CACHE_DIRNAME = ".vat_cache/training"
    CACHE_SCHEMA_VERSION = 1

    @staticmethod
    def get_paths(*, data_root: Path) -> CachePaths:
        root = data_root / TrainingDataCache.CACHE_DIRNAME
        return CachePaths(root=root, data=root / "data")

    @staticmethod
    def wipe_and_init(*, data_root: Path) -> CachePaths:
        paths = TrainingDataCache.get_paths(data_root=data_root)
        if paths.root.exists():
            shutil.rmtree(paths.root)
        paths.data.mkdir(parents=True, exist_ok=True)
        return paths

    @staticmethod
    def save_item(*, paths: CachePaths, data_id: int, prompt: str, width: int, height: int,
                  clean_latents: mx.array, cond: Any) -> None:
        tensor_path = paths.data / f"{data_id:07d}.safetensors"
        meta_path = paths.data / f"{data_id:07d}.json"
        tensors: dict[str, mx.array] = {
            "clean_latents": clean_latents,
            "width": mx.array(width, dtype=mx.int32),
            "height": mx.array(height, dtype=mx.int32),
        }
        if isinstance(cond, mx.array):
            tensors["cond"] = cond
        elif isinstance(cond, dict):
            for k, v in cond.items():
                if not isinstance(k, str) or not isinstance(v, mx.array):
                    raise TypeError("TrainingDataCache only supports cond as mx.array or dict[str, mx.array]")
                tensors[f"cond__{k}"] = v
        else:
            raise TypeError("TrainingDataCache only supports cond as mx.array or dict[str, mx.array]")
        tmp_tensor = tensor_path.with_name(f"{tensor_path.stem}.tmp.safetensors")
        mx.save_safetensors(str(tmp_tensor), tensors,
                            metadata={"vat_cache_schema": str(TrainingDataCache.CACHE_SCHEMA_VERSION)})
        tmp_tensor.replace(tensor_path)
        meta = {"schema": TrainingDataCache.CACHE_SCHEMA_VERSION, "data_id": int(data_id),
                "prompt": prompt, "width": int(width), "height": int(height)}
        meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @staticmethod
    def load_tensors(*, paths: CachePaths, data_id: int):
        tensor_path = paths.data / f"{data_id:07d}.safetensors"
        tensors, metadata = mx.load(str(tensor_path), return_metadata=True)
        if int(metadata.get("vat_cache_schema", -1)) != TrainingDataCache.CACHE_SCHEMA_VERSION:
            raise ValueError("Training cache schema mismatch. Delete the cache folder and retry.")
        clean_latents = tensors["clean_latents"]
        width = int(tensors["width"].item())
        height = int(tensors["height"].item())
        if "cond" in tensors:
            cond: Any = tensors["cond"]
        else:
            cond = {k[len("cond__"):]: v for k, v in tensors.items() if k.startswith("cond__")}
        return clean_latents, cond, width, height


# ----------------------------------------------------------------- models
VOCAB = ["<pad>", "oak", "bark", "chrome", "veg", "tan", "black", "oxblood", "natural",
         "calf", "goat", "horse", "steer", "supple", "firm", "waxed", "oiled", "matte"]
TOK = {w: i for i, w in enumerate(VOCAB)}
MAX_TOK, TXT_DIM, N_TOK, LAT_C = 8, 16, 16, 8


class TinyTextEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(len(VOCAB), TXT_DIM)
        self.proj = nn.Linear(TXT_DIM, TXT_DIM)

    def __call__(self, ids):
        return self.proj(nn.gelu(self.emb(ids)))


class TinyVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(12, LAT_C)

    def encode(self, pixels):  # (N_TOK, 12) patch pixels -> (1, N_TOK, LAT_C)
        return mx.tanh(self.enc(pixels))[None]


class VatTransformer(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.t_proj = nn.Linear(16, hidden)
        self.c_proj = nn.Linear(TXT_DIM, hidden)
        self.x_proj = nn.Linear(LAT_C, hidden)
        self.pos = mx.random.normal((N_TOK, hidden)) * 0.02
        self.norm = nn.LayerNorm(hidden)
        self.mlp1 = nn.Linear(hidden, hidden * 2)
        self.mlp2 = nn.Linear(hidden * 2, hidden)
        self.out = nn.Linear(hidden, LAT_C)

    def __call__(self, hidden_states, timestep, text_bth, text_lens):
        half = 8
        freqs = mx.exp(-mx.arange(half) * (np.log(1000.0) / half))
        ang = timestep[:, None] / 1000.0 * 50.0 * freqs[None]
        temb = self.t_proj(mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=-1))
        mask = (mx.arange(text_bth.shape[1])[None, :] < text_lens[:, None]).astype(text_bth.dtype)
        pooled = (text_bth * mask[..., None]).sum(axis=1) / mx.maximum(mask.sum(axis=1, keepdims=True), 1)
        h = self.x_proj(hidden_states) + self.pos + (temb + self.c_proj(pooled))[:, None, :]
        h = h + self.mlp2(nn.gelu(self.mlp1(self.norm(h))))
        return self.out(h)


class VatAdapter:
    def __init__(self):
        self.text_encoder = TinyTextEncoder()
        self.vae = TinyVAE()
        self.transformer = VatTransformer()
        self.text_encoder.freeze()
        self.vae.freeze()

    def encode_data(self, *, pixels: np.ndarray, prompt: str):
        clean_latents = self.vae.encode(mx.array(pixels))
        words = prompt.split()[:MAX_TOK]
        ids = [TOK[w] for w in words] + [0] * (MAX_TOK - len(words))
        text_bth = self.text_encoder(mx.array([ids]))
        text_lens = mx.array([len(words)], dtype=mx.int32)
        mx.eval(clean_latents, text_bth, text_lens)
        return clean_latents, (text_bth, text_lens)

    def predict_noise(self, *, t: int, latents_t: mx.array, sigmas: mx.array, cond: Any) -> mx.array:
        text_bth, text_lens = cond
        timestep = sigmas[t].reshape((1,)) * 1000
        return self.transformer(hidden_states=latents_t, timestep=mx.broadcast_to(timestep, (1,)),
                                text_bth=text_bth, text_lens=text_lens)


# ----------------------------------------------------------------- data
def make_swatches(n, rng):
    colours = ["oak bark", "chrome tan", "veg tan", "black", "oxblood", "natural"]
    hides = ["calf", "goat", "horse", "steer"]
    finish = ["supple", "firm", "waxed", "oiled", "matte"]
    base = {c: rng.normal(0, 1, 12) for c in colours}
    grain = {h: rng.normal(0, 0.6, (N_TOK, 12)) for h in hides}
    items = []
    for i in range(n):
        c, h = colours[rng.integers(len(colours))], hides[rng.integers(len(hides))]
        words = [c, h] + ([finish[rng.integers(len(finish))]] if rng.random() < 0.6 else [])
        px = base[c][None, :] + grain[h] + rng.normal(0, 0.1, (N_TOK, 12))
        items.append((" ".join(words), px.astype(np.float32)))
    return items


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    adapter = VatAdapter()
    swatches = make_swatches(96, rng)
    train_ids, val_ids = list(range(80)), list(range(80, 96))

    workdir = Path(tempfile.mkdtemp())
    try:
        t0 = time.time()
        print(f"low_ram=True: building latent cache for {len(swatches)} swatches in {workdir.name}")
        paths = TrainingDataCache.wipe_and_init(data_root=workdir)
        for data_id, (prompt, px) in enumerate(swatches):
            clean_latents, cond = adapter.encode_data(pixels=px, prompt=prompt)
            TrainingDataCache.save_item(paths=paths, data_id=data_id, prompt=prompt, width=64, height=64,
                                        clean_latents=clean_latents, cond=cond)
        print(f"cache ready: {len(list(paths.data.glob('*.safetensors')))} items ({time.time() - t0:.1f}s)")

        n_steps = 20
        sigmas = mx.linspace(1.0, 0.0, n_steps + 1)
        opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
        tr = adapter.transformer

        def loss_fn(model, clean, noise, t, cond):
            sigma = sigmas[t]
            latents_t = (1 - sigma) * clean + sigma * noise
            pred = adapter.predict_noise(t=t, latents_t=latents_t, sigmas=sigmas, cond=cond)
            return mx.mean((pred - (noise - clean)) ** 2)

        loss_and_grad = nn.value_and_grad(tr, loss_fn)

        def val_loss():
            vrng = np.random.default_rng(99)
            tot = 0.0
            for data_id in val_ids:
                clean, cond, _, _ = TrainingDataCache.load_tensors(paths=paths, data_id=data_id)
                for _ in range(4):
                    t = int(vrng.integers(n_steps))
                    noise = mx.array(vrng.normal(0, 1, clean.shape).astype(np.float32))
                    tot += loss_fn(tr, clean, noise, t, cond).item()
            return tot / (4 * len(val_ids))

        print(f"step    0 | val loss {val_loss():.4f}")
        window = []
        for step in range(1, 1201):
            data_id = int(rng.choice(train_ids))
            clean, cond, _, _ = TrainingDataCache.load_tensors(paths=paths, data_id=data_id)
            t = int(rng.integers(n_steps))
            noise = mx.random.normal(clean.shape)
            loss, grads = loss_and_grad(tr, clean, noise, t, cond)
            opt.update(tr, grads)
            mx.eval(tr.parameters(), opt.state, loss)
            window.append(loss.item())
            if step % 150 == 0:
                print(f"step {step:4d} | train loss {np.mean(window):.4f} | val loss {val_loss():.4f}")
                window = []
        print(f"done in {time.time() - t0:.1f}s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
