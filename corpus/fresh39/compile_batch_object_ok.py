# LoRA-free toy "image" flow-matching trainer with an optional compiled train step
import random, time, json
from dataclasses import dataclass, field
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(1)
random.seed(1)

@dataclass
class Example:
    latents: mx.array          # (16,) clean latent
    caption_emb: mx.array      # (8,) conditioning

@dataclass
class Batch:
    examples: list
    rng: random.Random
    latents: mx.array = field(default=None)
    cond: mx.array = field(default=None)

def make_dataset(n):
    proj = mx.random.normal((8, 16)) * 0.7
    out = []
    for _ in range(n):
        c = mx.random.normal((8,))
        out.append(Example(latents=mx.tanh(c @ proj), caption_emb=c))
    return out

class Velocity(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16 + 8 + 1, 96), nn.SiLU(),
                                 nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, 16))
    def __call__(self, x_t, t, cond):
        return self.net(mx.concatenate([x_t, cond, t[:, None]], axis=-1))

def flow_loss(model, batch: Batch):
    x0 = batch.latents
    noise = mx.random.normal(x0.shape)
    t = mx.random.uniform(shape=(x0.shape[0],))
    x_t = (1 - t[:, None]) * x0 + t[:, None] * noise
    v = model(x_t, t, batch.cond)
    return mx.mean((v - (noise - x0)) ** 2)

class CompiledTrainStep:
    """Wraps loss+grad+update; compilation gives a nice speedup on big models."""
    def __init__(self, model, optimizer, enabled=True):
        self.model, self.optimizer = model, optimizer
        self.loss_and_grad = nn.value_and_grad(model, flow_loss)
        state = [model.state, optimizer.state, mx.random.state]
        def step(batch):
            loss, grads = self.loss_and_grad(self.model, batch)
            self.optimizer.update(self.model, grads)
            return loss
        if enabled:
            from functools import partial
            step = partial(mx.compile, inputs=state, outputs=state)(step)
        self._step = step
    def __call__(self, batch):
        return self._step(batch)

data = make_dataset(1024)
model = Velocity()
opt = optim.AdamW(learning_rate=2e-3)
mx.eval(model.parameters())

training_spec = {"epochs": 20, "batch_size": 64}
enable_compilation = training_spec.get("enable_compilation", False)
train_step = CompiledTrainStep(model, opt, enabled=enable_compilation)

rng = random.Random(7)
t0 = time.time()
it = 0
for epoch in range(training_spec["epochs"]):
    idx = list(range(len(data)))
    rng.shuffle(idx)
    run = 0.0
    for b in range(0, len(idx), training_spec["batch_size"]):
        ex = [data[i] for i in idx[b:b + training_spec["batch_size"]]]
        batch = Batch(examples=ex, rng=rng,
                      latents=mx.stack([e.latents for e in ex]),
                      cond=mx.stack([e.caption_emb for e in ex]))
        loss = train_step(batch)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        it += 1
    print(json.dumps({"epoch": epoch, "iters": it, "mean_flow_loss": round(run / (len(idx) // 64), 5),
                      "elapsed_s": round(time.time() - t0, 2)}))
