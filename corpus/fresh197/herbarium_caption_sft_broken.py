# Tiny "vision-language" SFT with LoRA adapters: patch features + caption tokens,
# a frozen base projection and LoRA on the attention-free decoder.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

mx.random.seed(3)
VOCAB, DIM, SEQ, NPATCH = 40, 48, 10, 4


class LoRALinear(nn.Module):
    def __init__(self, din, dout, rank=4, alpha=8.0):
        super().__init__()
        self.linear = nn.Linear(din, dout)
        self.scale = alpha / rank
        self.lora_a = mx.random.normal((din, rank)) * (1.0 / din ** 0.5)
        self.lora_b = mx.zeros((rank, dout))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class TinyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_proj = nn.Linear(16, DIM)
        self.embed = nn.Embedding(VOCAB, DIM)
        self.mix = LoRALinear(DIM, DIM)
        self.head = LoRALinear(DIM, VOCAB)

    def __call__(self, input_ids, pixel_values):
        img = self.vision_proj(pixel_values).mean(axis=1, keepdims=True)
        h = self.embed(input_ids) + img
        # causal running mean over the prefix
        csum = mx.cumsum(h, axis=1)
        h = csum / mx.arange(1, h.shape[1] + 1)[None, :, None]
        h = nn.gelu(self.mix(h)) + h
        return self.head(h)


def make_batch(bs):
    cls = mx.random.randint(0, 4, (bs,))
    pix = mx.random.normal((bs, NPATCH, 16)) * 0.3 + cls[:, None, None].astype(mx.float32)
    start = 4 + cls * 8
    ids = (start[:, None] + mx.arange(SEQ)[None, :] % 7)
    lengths = mx.random.randint(6, SEQ + 1, (bs,))
    return {"input_ids": ids, "pixel_values": pix, "lengths": lengths}


class Trainer:
    def __init__(self, model, optimizer, clip_gradients=1.0):
        self.model = model
        self.optimizer = optimizer
        self.clip_gradients = clip_gradients

    def loss_fn(self, model, batch):
        ids = batch["input_ids"]
        labels = ids[:, 1:]
        input_ids = ids[:, :-1]
        logits = model(input_ids, batch["pixel_values"]).astype(mx.float32)
        length_mask = mx.arange(input_ids.shape[1])[None, :] < (batch["lengths"][:, None] - 1)
        ce = nn.losses.cross_entropy(logits, labels) * length_mask
        return ce.sum() / length_mask.sum()

    def train_step(self, batch):
        loss_and_grad_fn = nn.value_and_grad(self.model, self.loss_fn)
        loss, grads = loss_and_grad_fn(self.model, batch)

        if self.clip_gradients is not None:
            grads = tree_map(
                lambda g: mx.clip(g, -self.clip_gradients, self.clip_gradients), grads
            )

        # Update parameters based on whether we're using LoRA or full training
        if hasattr(self.model, 'trainable_parameters'):
            # LoRA mode - update only trainable parameters
            trainable_params = self.model.trainable_parameters(self.model)
            self.optimizer.update(trainable_params, grads)
        else:
            # Full weight training - update all parameters
            self.optimizer.update(self.model.parameters(), grads)

        return loss


model = TinyVLM()
model.freeze()
model.unfreeze(keys=["lora_a", "lora_b"])
model.vision_proj.unfreeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"Trainable parameters: {100.0 * n_train / n_all:.2f}% ({n_train}/{n_all})")

trainer = Trainer(model, optim.Adam(learning_rate=1e-2))
val = make_batch(64)
t0 = time.time()
for epoch in range(8):
    total = 0.0
    for it in range(80):
        loss = trainer.train_step(make_batch(16))
        mx.eval(model, trainer.optimizer.state, loss)
        total += loss.item()
    vl = trainer.loss_fn(model, val)
    print(f"Epoch {epoch + 1}: train_loss={total / 80:.4f} val_loss={vl.item():.4f} "
          f"({time.time() - t0:.1f}s)")
print("Training complete.")
