# VQA fine-tune of a tiny vision-language model on synthetic
# "atlas tile" images: a bright square sits in one quadrant, in one colour.
# Questions: "where?" -> quadrant token, "colour?" -> colour token.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAD, BOS, IMAGE, Q_WHERE, Q_COLOUR, ASSIST, EOS = 0, 1, 2, 3, 4, 5, 6
QUAD0 = 7      # 7..10 quadrant answers
COL0 = 11      # 11..13 colour answers
VOCAB = 16
IMG, PATCH, CH = 16, 8, 3
N_PATCH = (IMG // PATCH) ** 2
SEQ = 1 + N_PATCH + 1 + 1 + 1 + 1     # bos, image tokens, q, assist, answer, eos
DIM = 32


def render(rng, quad, colour):
    img = rng.normal(0.0, 0.25, size=(CH, IMG, IMG)).astype(np.float32)
    r0 = (quad // 2) * 8 + rng.integers(0, 3)
    c0 = (quad % 2) * 8 + rng.integers(0, 3)
    img[colour, r0:r0 + 5, c0:c0 + 5] += 2.0
    return img


class AtlasDataset:
    """Processor-style outputs: input_ids, attention_mask, pixel_values."""

    def __init__(self, n_batches, batch_size, seed):
        self.n = n_batches
        self.bs = batch_size
        self.seed = seed

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        rng = np.random.default_rng(self.seed * 100003 + idx)
        ids, pix = [], []
        for _ in range(self.bs):
            quad = int(rng.integers(0, 4))
            colour = int(rng.integers(0, 3))
            ask_where = bool(rng.integers(0, 2))
            q = Q_WHERE if ask_where else Q_COLOUR
            ans = QUAD0 + quad if ask_where else COL0 + colour
            ids.append([BOS] + [IMAGE] * N_PATCH + [q, ASSIST, ans, EOS])
            pix.append(render(rng, quad, colour))
        input_ids = np.array(ids, dtype=np.int32)
        return {
            "input_ids": input_ids,
            "attention_mask": np.ones_like(input_ids),
            "pixel_values": np.stack(pix),
        }


class VisionTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Linear(CH * PATCH * PATCH, 48)
        self.pos = mx.random.normal((N_PATCH, 48)) * 0.02

    def __call__(self, pixel_values):
        b = pixel_values.shape[0]
        g = IMG // PATCH
        x = pixel_values.reshape(b, CH, g, PATCH, g, PATCH)
        x = x.transpose(0, 2, 4, 1, 3, 5).reshape(b, N_PATCH, CH * PATCH * PATCH)
        return nn.gelu(self.patch(x) + self.pos)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)
        self.ln2 = nn.LayerNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(), nn.Linear(4 * DIM, DIM))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class Output:
    def __init__(self, logits):
        self.logits = logits


class TinyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_tower = VisionTower()
        self.projector = nn.Sequential(nn.Linear(48, DIM), nn.GELU(), nn.Linear(DIM, DIM))
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.blocks = [Block(), Block()]
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, input_ids, pixel_values, attention_mask):
        b, L = input_ids.shape
        text = self.embed(input_ids)
        feats = self.projector(self.vision_tower(pixel_values))
        is_img = input_ids == IMAGE
        slot = mx.clip(mx.cumsum(is_img.astype(mx.int32), axis=1) - 1, 0, N_PATCH - 1)
        gathered = mx.take_along_axis(feats, slot[..., None], axis=1)
        x = mx.where(is_img[..., None], gathered, text) + self.pos(mx.arange(L))
        causal = nn.MultiHeadAttention.create_additive_causal_mask(L)
        pad = (1.0 - attention_mask[:, None, None, :].astype(mx.float32)) * -1e9
        mask = causal + pad
        for blk in self.blocks:
            x = blk(x, mask)
        return Output(self.head(self.norm(x)))


class Trainer:
    def __init__(self, model, optimizer, clip_gradients=1.0):
        self.model = model
        self.optimizer = optimizer
        self.clip_gradients = clip_gradients

    def loss_fn(self, model, batch):
        pixel_values = batch["pixel_values"]
        input_ids = batch["input_ids"]
        attention_mask = batch["attention_mask"]
        lengths = mx.sum(attention_mask, axis=1)
        labels = input_ids[:, 1:]

        batch_size, seq_length = input_ids.shape

        input_ids = input_ids[:, :-1]
        attention_mask = attention_mask[:, :-1]

        outputs = model(input_ids, pixel_values, attention_mask)
        logits = outputs.logits.astype(mx.float32)

        length_mask = mx.arange(input_ids.shape[1])[None, :] < (lengths[:, None] - 1)
        not_image = labels != IMAGE
        weights = (length_mask & not_image).astype(mx.float32)
        ce = nn.losses.cross_entropy(logits, labels) * weights
        return ce.sum() / mx.maximum(weights.sum(), 1)

    def train_step(self, batch):
        loss_and_grad_fn = nn.value_and_grad(self.model, self.loss_fn)
        loss, grads = loss_and_grad_fn(self.model, batch)
        if self.clip_gradients is not None:
            grads, _ = optim.clip_grad_norm(grads, self.clip_gradients)
        self.optimizer.update(self.model, grads)
        return loss


# Helper function to convert processor arrays to MLX arrays
def convert_to_mlx(item, add_batch_dim=True):
    mlx_batch = {}
    for key, value in item.items():
        if isinstance(value, np.ndarray):
            arr = mx.array(value)
            if add_batch_dim and arr.ndim > 0:
                arr = mx.expand_dims(arr, axis=0)
            mlx_batch[key] = arr
        elif isinstance(value, list):
            if value and isinstance(value[0], np.ndarray):
                converted = [mx.array(v) for v in value]
                if add_batch_dim:
                    converted = [mx.expand_dims(a, axis=0) if a.ndim > 0 else a for a in converted]
                mlx_batch[key] = converted
            else:
                mlx_batch[key] = value
        else:
            mlx_batch[key] = value
    return mlx_batch


def answer_accuracy(model, dataset):
    hit, tot = 0, 0
    for i in range(len(dataset)):
        batch = convert_to_mlx(dataset[i])
        ids = batch["input_ids"]
        out = model(ids[:, :-1], batch["pixel_values"], batch["attention_mask"][:, :-1])
        ans_pos = SEQ - 3          # logits at ASSIST predict the answer
        pred = mx.argmax(out.logits[:, ans_pos, :], axis=-1)
        hit += int(mx.sum(pred == ids[:, ans_pos + 1]).item())
        tot += ids.shape[0]
    return hit / tot


def main():
    mx.random.seed(0)
    ITERS = 300
    LEARNING_RATE = 3e-3
    train_dataset = AtlasDataset(n_batches=400, batch_size=16, seed=1)
    val_dataset = AtlasDataset(n_batches=8, batch_size=16, seed=2)

    model = TinyVLM()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
    print(f"Trainable parameters: {n_params}")
    optimizer = optim.AdamW(learning_rate=LEARNING_RATE, weight_decay=0.01)
    trainer = Trainer(model, optimizer)

    print("Starting training..., iters:", ITERS)
    train_losses = []
    tic = time.perf_counter()
    for step in range(ITERS):
        item_idx = step % len(train_dataset)
        batch = train_dataset[item_idx]
        batch = convert_to_mlx(batch)

        loss = trainer.train_step(batch)
        mx.eval(model.parameters(), optimizer.state, loss)
        train_losses.append(loss.item())

        if step > 0 and step % 25 == 0:
            avg = sum(train_losses[-25:]) / 25
            print(f"Iter {step}: Train loss {avg:.4f}, It/sec {25 / (time.perf_counter() - tic):.2f}")
            tic = time.perf_counter()
        if step > 0 and step % 100 == 0:
            acc = answer_accuracy(model, val_dataset)
            print(f"Iter {step}: Val answer accuracy {acc:.3f} (chance ~0.29)")

    acc = answer_accuracy(model, val_dataset)
    print(f"Final train loss: {train_losses[-1]:.4f}")
    print(f"Final val answer accuracy: {acc:.3f}")


if __name__ == "__main__":
    main()
