"""DreamBooth-style fine-tune of a tiny text-conditioned denoiser.

Every `preview_every` steps we render a preview sample with the current
weights (like a validation image), which goes through the pipeline's prompt
encoder and its prompt cache.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("dreambooth")

mx.random.seed(7)

WORDS = ["a", "photo", "of", "sks", "dog", "cat", "on", "the", "beach", "in",
         "snow", "red", "blue", "toy", "painting", "style"]
W2I = {w: i for i, w in enumerate(WORDS)}
LATENT = 16
T_STEPS = 50


class TextEncoder(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.emb = nn.Embedding(len(WORDS), dim)
        self.proj = nn.Linear(dim, dim)

    def __call__(self, ids):
        h = self.emb(ids)
        return self.proj(h), h.mean(axis=0)


class Denoiser(nn.Module):
    def __init__(self, dim=32, hidden=128):
        super().__init__()
        self.inp = nn.Linear(LATENT + 1 + dim, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, LATENT)

    def __call__(self, x, t, cond):
        h = mx.concatenate([x, t[:, None], cond], axis=-1)
        h = nn.silu(self.inp(h))
        h = nn.silu(self.mid(h))
        return self.out(h)


class TinyFlux(nn.Module):
    def __init__(self):
        super().__init__()
        self.text_encoder = TextEncoder()
        self.transformer = Denoiser()
        self.prompt_cache = {}

    def encode_prompt(self, prompt):
        if prompt in self.prompt_cache:
            return self.prompt_cache[prompt]
        ids = mx.array([W2I[w] for w in prompt.split()])
        embeds, pooled = self.text_encoder(ids)
        self.prompt_cache[prompt] = (embeds, pooled)
        return embeds, pooled

    def generate(self, prompt, steps=10, seed=0):
        _, pooled = self.encode_prompt(prompt)
        key = mx.random.key(seed)
        x = mx.random.normal((1, LATENT), key=key)
        for i in range(steps, 0, -1):
            t = mx.array([i / steps])
            eps = self.transformer(x, t, pooled[None])
            x = x - eps / steps
        return x


# ---------------------------------------------------------------- training data
# "subject" latents: each training prompt has its own target latent pattern
train_prompts = ["a photo of sks dog", "a photo of sks dog on the beach",
                 "a photo of sks dog in snow", "a painting of sks dog"]
targets = mx.random.normal((len(train_prompts), LATENT)) * 0.5 + mx.array(
    [math.sin(0.4 * k) for k in range(LATENT)])

flux = TinyFlux()
flux.text_encoder.freeze()
# encode the training captions once, up front (no cache needed: done once)
pooled_train = mx.stack([flux.text_encoder(mx.array([W2I[w] for w in p.split()]))[1]
                         for p in train_prompts])
mx.eval(pooled_train, flux.parameters())

alphas = mx.cos(mx.linspace(0, 1, T_STEPS + 1) * math.pi / 2) ** 2


def loss_fn(model, x0, cond, t_idx, noise):
    a = alphas[t_idx][:, None]
    xt = mx.sqrt(a) * x0 + mx.sqrt(1 - a) * noise
    pred = model.transformer(xt, t_idx.astype(mx.float32) / T_STEPS, cond)
    return mx.mean((pred - noise) ** 2)


optimizer = optim.AdamW(learning_rate=1e-3, weight_decay=1e-2)
value_and_grad = nn.value_and_grad(flux, loss_fn)

num_steps = 1200
batch = 32
preview_every = 300
preview_prompt = "a photo of sks dog in snow"
ema = None

log.info("trainable params: %d", sum(v.size for _, v in tree_flatten(flux.trainable_parameters())))
for step in range(1, num_steps + 1):
    idx = mx.random.randint(0, len(train_prompts), (batch,))
    x0 = targets[idx]
    cond = pooled_train[idx]
    t_idx = mx.random.randint(1, T_STEPS + 1, (batch,))
    noise = mx.random.normal((batch, LATENT))
    loss, grads = value_and_grad(flux, x0, cond, t_idx, noise)
    optimizer.update(model=flux, gradients=grads)
    mx.eval(flux.parameters(), optimizer.state, loss)
    lv = loss.item()
    ema = lv if ema is None else 0.95 * ema + 0.05 * lv
    if step % 50 == 0:
        log.info("step %d/%d loss %.4f (ema %.4f)", step, num_steps, lv, ema)

    if step % preview_every == 0:
        img = flux.generate(preview_prompt, seed=42)
        mx.eval(img)
        log.info("preview @%d: |x|=%.3f first=%s", step, mx.abs(img).mean().item(),
                 [round(v, 2) for v in img[0, :4].tolist()])
        del img
        flux.prompt_cache = {}

log.info("done, final ema loss %.4f", ema)
