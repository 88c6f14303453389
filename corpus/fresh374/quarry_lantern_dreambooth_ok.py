"""DreamBooth-style LoRA finetune of a tiny latent flow model on a handful of
photos of one subject (a brass quarry lantern), following the structure of the
mlx-examples flux/dreambooth.py script at toy scale."""
import json
import tempfile
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from PIL import Image


class LoRALinear(nn.Module):
    def __init__(self, linear, r=4, scale=1.0):
        super().__init__()
        out_dims, in_dims = linear.weight.shape
        self.linear = linear
        self.scale = scale
        bound = 1 / np.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, r))
        self.lora_b = mx.zeros((r, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class TinyAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(8, 4, 3, stride=2, padding=1)

    def encode(self, x):
        return self.c2(nn.silu(self.c1(x)))


class TinyText(nn.Module):
    def __init__(self, vocab=64, dims=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, dims)

    def __call__(self, tokens):
        return self.emb(tokens).mean(axis=1)


class Flow(nn.Module):
    def __init__(self, lat=64, txt=16, hid=128):
        super().__init__()
        self.inp = nn.Linear(lat + txt + 1, hid)
        self.mid = nn.Linear(hid, hid)
        self.out = nn.Linear(hid, lat)

    def __call__(self, x, t, c):
        h = mx.concatenate([x.reshape(x.shape[0], -1), c, t[:, None]], axis=-1)
        h = nn.gelu(self.inp(h))
        h = nn.gelu(self.mid(h))
        return self.out(h).reshape(x.shape)


class Pipeline:
    dtype = mx.float32

    def __init__(self):
        self.ae = TinyAE()
        self.text = TinyText()
        self.flow = Flow()

    def tokenize(self, prompts):
        ids = [[sum(map(ord, w)) % 64 for w in p.split()][:6] for p in prompts]
        ids = [i + [0] * (6 - len(i)) for i in ids]
        return mx.array(ids)


class FinetuningDataset:
    def __init__(self, flux, args):
        self.args = args
        self.flux = flux
        self.dataset_base = Path(args["dataset"])
        dataset_index = self.dataset_base / "index.json"
        if not dataset_index.exists():
            raise ValueError(f"'{args['dataset']}' is not a valid finetuning dataset")
        with open(dataset_index, "r") as f:
            self.index = json.load(f)
        self.latents = []
        self.text_features = []

    def encode_images(self):
        self.flux.ae.eval()
        for sample in self.index["data"]:
            img = Image.open(self.dataset_base / sample["image"])
            width, height = img.size
            if width != height:
                side = min(width, height)
                img = img.crop(
                    (
                        (width - side) / 2,
                        (height - side) / 2,
                        (width + side) / 2,
                        (height + side) / 2,
                    )
                )
            img = img.resize(self.args["resolution"], Image.LANCZOS)
            img = mx.array(np.array(img))
            img = (img[:, :, :3].astype(self.flux.dtype) / 255) * 2 - 1
            x_0 = self.flux.ae.encode(img[None])
            mx.eval(x_0)
            self.latents.append(x_0)

    def encode_prompts(self):
        for sample in self.index["data"]:
            tok = self.flux.tokenize([sample["text"]])
            feat = self.flux.text(tok)
            mx.eval(feat)
            self.text_features.append(feat)

    def iterate(self, batch_size):
        xs = mx.concatenate(self.latents)
        cs = mx.concatenate(self.text_features)
        mx.eval(xs, cs)
        while True:
            indices = mx.random.randint(0, len(self.latents), (batch_size,))
            yield xs[indices], cs[indices]


def make_photos(root, n=12, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    data = []
    sizes = [(48, 40), (40, 56), (44, 44), (64, 48), (36, 52), (50, 50)]
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        yy, xx = np.mgrid[0:h, 0:w]
        cx, cy = w / 2 + rng.normal(0, 2), h / 2 + rng.normal(0, 2)
        r = min(w, h) * 0.3
        body = ((xx - cx) ** 2 / (0.6 * r) ** 2 + (yy - cy) ** 2 / r**2) < 1
        arr = np.zeros((h, w, 3), dtype=np.float32)
        arr[..., 0] = 40 + 20 * rng.random()
        arr[..., 1] = 60 + 20 * rng.random()
        arr[..., 2] = 90 + 20 * rng.random()
        arr[body] = [200, 160, 60]
        arr += rng.normal(0, 6, arr.shape)
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(root / f"img_{i:02d}.png")
        data.append({"image": f"img_{i:02d}.png", "text": "a photo of sks lantern"})
    with open(root / "index.json", "w") as f:
        json.dump({"data": data}, f)


def main():
    mx.random.seed(0)
    tmp = Path(tempfile.mkdtemp())
    make_photos(tmp / "photos")
    args = {"dataset": str(tmp / "photos"), "resolution": (16, 16),
            "iterations": 600, "batch_size": 4, "learning_rate": 3e-3, "lora_rank": 8}

    flux = Pipeline()
    mx.eval(flux.ae.parameters(), flux.text.parameters(), flux.flow.parameters())
    flux.flow.freeze()
    flux.flow.inp = LoRALinear(flux.flow.inp, r=args["lora_rank"])
    flux.flow.mid = LoRALinear(flux.flow.mid, r=args["lora_rank"])
    flux.flow.out = LoRALinear(flux.flow.out, r=args["lora_rank"])
    for m in (flux.flow.inp, flux.flow.mid, flux.flow.out):
        m.linear.freeze()
    n_train = sum(v.size for _, v in tree_flatten(flux.flow.trainable_parameters()))
    print(f"Trainable LoRA parameters: {n_train}")

    dataset = FinetuningDataset(flux, args)
    print("Encoding images...")
    dataset.encode_images()
    print("Encoding prompts...")
    dataset.encode_prompts()
    print(f"Prepared {len(dataset.latents)} latents of shape {dataset.latents[0].shape}")

    def loss_fn(model, x0, c):
        t = mx.random.uniform(shape=(x0.shape[0],))
        noise = mx.random.normal(x0.shape)
        tt = t[:, None, None, None]
        xt = (1 - tt) * x0 + tt * noise
        pred = model(xt, t, c)
        return ((pred - (noise - x0)) ** 2).mean()

    opt = optim.AdamW(learning_rate=args["learning_rate"], weight_decay=0.0)
    step = nn.value_and_grad(flux.flow, loss_fn)
    losses = []
    tic = time.time()
    for it, (x0, c) in zip(range(1, args["iterations"] + 1), dataset.iterate(args["batch_size"])):
        loss, grads = step(flux.flow, x0, c)
        opt.update(flux.flow, grads)
        mx.eval(flux.flow.parameters(), opt.state, loss)
        losses.append(loss.item())
        if it % 50 == 0:
            print(f"Iter {it:4d}: train loss {np.mean(losses[-50:]):.4f} "
                  f"({50 / (time.time() - tic):.1f} it/s)")
            tic = time.time()
    out = tmp / "0000600_adapters.safetensors"
    mx.save_safetensors(str(out), dict(tree_flatten(flux.flow.trainable_parameters())))
    print(f"Saved adapters to {out.name}; final loss {np.mean(losses[-50:]):.4f} "
          f"(first 50: {np.mean(losses[:50]):.4f})")


if __name__ == "__main__":
    main()
