"""Subject fine-tune of a small flow-matching denoiser with a low-rank adapter.

Stage 1 pretrains a tiny conditional velocity model on six "concept" blobs.
Stage 2 freezes it, wraps the last block's output projection in a LoRALinear
(as in the mflux dreambooth code) and fine-tunes on a dozen samples of a new
subject, DreamBooth style.
"""

import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

D = 8
H = 64
N_CONCEPTS = 6
SIGMAS = np.linspace(1.0, 1.0 / 20, 20).astype(np.float32)


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(
        linear: nn.Linear,
        r: int = 16,
        scale: float = 1.0,
    ):
        output_dims, input_dims = linear.weight.shape
        lora_lin = LoRALinear(
            input_dims=input_dims,
            output_dims=output_dims,
            r=r,
            scale=scale,
        )
        lora_lin.linear = linear
        return lora_lin

    def __init__(
        self,
        input_dims: int,
        output_dims: int,
        r: int = 8,
        scale: float = 1.0,
        bias: bool = False,
    ):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=bias)
        self.scale = scale
        scale = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(
            low=-scale,
            high=scale,
            shape=(input_dims, r),
        )
        self.lora_b = mx.random.uniform(
            low=-scale,
            high=scale,
            shape=(r, output_dims),
        )

    def __call__(self, x):
        adapter = self.scale * mx.matmul(self.lora_a, self.lora_b)
        adapter = adapter.astype(x.dtype)
        return self.linear(x) + mx.matmul(x, adapter)


def time_features(t):
    freqs = mx.exp(-math.log(1000.0) * mx.arange(8) / 8)
    ang = t[:, None] * 1000.0 * freqs[None, :]
    return mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=-1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(H)
        self.proj_in = nn.Linear(H, 2 * H)
        self.proj_out = nn.Linear(2 * H, H)

    def __call__(self, h):
        return h + self.proj_out(nn.gelu(self.proj_in(self.norm(h))))


class Denoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D, H)
        self.temb = nn.Linear(16, H)
        self.cemb = nn.Linear(16, H)
        self.blocks = [Block() for _ in range(3)]
        self.head = nn.Linear(H, D)

    def __call__(self, x, t, prompt):
        h = self.inp(x) + self.temb(time_features(t)) + self.cemb(prompt)
        for b in self.blocks:
            h = b(h)
        return self.head(h)


def fm_loss(model, x0, prompt):
    idx = mx.random.randint(0, len(SIGMAS), (x0.shape[0],))
    sigma = mx.array(SIGMAS)[idx]
    noise = mx.random.normal(x0.shape)
    xt = (1 - sigma[:, None]) * x0 + sigma[:, None] * noise
    pred = model(xt, sigma, prompt)
    return mx.mean((pred - (noise - x0)) ** 2)


def sample(model, prompt_vec, n, steps=20):
    x = mx.random.normal((n, D))
    p = mx.broadcast_to(prompt_vec, (n, 16))
    ts = np.linspace(1.0, 0.0, steps + 1).astype(np.float32)
    for i in range(steps):
        t = mx.full((n,), float(ts[i]))
        v = model(x, t, p)
        x = x - (ts[i] - ts[i + 1]) * v
    return x


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)

    # prompt embeddings: constant vectors, like a frozen text encoder's output
    prompts = rng.normal(size=(N_CONCEPTS + 1, 16)).astype(np.float32)
    means = rng.normal(scale=2.0, size=(N_CONCEPTS + 1, D)).astype(np.float32)

    def concept_batch(n):
        c = rng.integers(0, N_CONCEPTS, size=n)
        x = means[c] + 0.3 * rng.normal(size=(n, D)).astype(np.float32)
        return mx.array(x), mx.array(prompts[c])

    model = Denoiser()
    mx.eval(model.parameters())

    # ---- stage 1: pretraining the base model ----
    opt = optim.Adam(learning_rate=2e-3)
    step_fn = nn.value_and_grad(model, fm_loss)
    for step in range(1, 301):
        x0, p = concept_batch(64)
        loss, grads = step_fn(model, x0, p)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 100 == 0:
            print(f"pretrain step {step:4d} | loss {loss.item():.4f}")

    # subject set: 12 images of "the dog"
    subj = 0
    subj_mean = means[subj] + 0.6
    subj_x = subj_mean + 0.3 * rng.normal(size=(12, D)).astype(np.float32)
    subj_x = mx.array(subj_x)
    subj_p = mx.broadcast_to(mx.array(prompts[subj]), (12, 16))

    mx.random.seed(11)
    base_eval = np.mean([fm_loss(model, subj_x, subj_p).item() for _ in range(20)])
    base_samples = sample(model, mx.array(prompts[subj]), 128)
    base_dist = float(mx.sqrt(mx.sum((base_samples.mean(0) - mx.array(subj_mean)) ** 2)))
    print(f"base model on subject | fm loss {base_eval:.4f} | sample-mean dist {base_dist:.3f}")

    other_x, other_p = concept_batch(64)
    mx.random.seed(5)
    prior_before = np.mean([fm_loss(model, other_x, other_p).item() for _ in range(20)])
    ref_w = np.array(model.blocks[-1].proj_out.weight)

    # ---- stage 2: DreamBooth-style adapter fine-tune ----
    model.freeze()
    last = model.blocks[-1]
    last.proj_out = LoRALinear.from_linear(linear=last.proj_out)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable params after adapter: {n_train}")

    lr = 3e-4
    warmup = optim.linear_schedule(0, lr, 1)
    cosine = optim.cosine_decay(lr, 150)
    opt2 = optim.AdamW(learning_rate=optim.join_schedules([warmup, cosine], [1]))
    step_fn2 = nn.value_and_grad(model, fm_loss)
    running = []
    for step in range(1, 151):
        loss, grads = step_fn2(model, subj_x, subj_p)
        opt2.update(model, grads)
        mx.eval(model.trainable_parameters(), opt2.state)
        running.append(loss.item())
        if step % 25 == 0 or step == 1:
            print(f"finetune step {step:4d} | loss {np.mean(running[-25:]):.4f} | lr {opt2.learning_rate.item():.2e}")

    mx.random.seed(11)
    ft_eval = np.mean([fm_loss(model, subj_x, subj_p).item() for _ in range(20)])
    ft_samples = sample(model, mx.array(prompts[subj]), 128)
    ft_dist = float(mx.sqrt(mx.sum((ft_samples.mean(0) - mx.array(subj_mean)) ** 2)))
    print(f"fine-tuned on subject | fm loss {ft_eval:.4f} | sample-mean dist {ft_dist:.3f}")
    print(f"improvement over base: loss x{base_eval / ft_eval:.2f}, dist {base_dist:.3f} -> {ft_dist:.3f}")
    mx.random.seed(5)
    prior_after = np.mean([fm_loss(model, other_x, other_p).item() for _ in range(20)])
    drift = float(np.abs(np.array(model.blocks[-1].proj_out.linear.weight) - ref_w).max())
    print(f"prior concepts fm loss {prior_before:.4f} -> {prior_after:.4f} | frozen base weight drift {drift:.1e}")


if __name__ == "__main__":
    main()
