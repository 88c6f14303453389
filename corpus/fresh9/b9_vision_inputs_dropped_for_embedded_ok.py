"""Tiny vision-language classifier fine-tune (image + question -> answer id).

Mirrors a VLM LoRA data path: a VisionDataset turns raw samples into model
inputs through prepare_inputs(); "embedded-image" model families get their
image features spliced in at the <image> placeholder position.
"""
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(4)

N_CLASSES, IMG_DIM, VOCAB, D = 4, 48, 32, 32
IMAGE_TOKEN = 1
QUESTIONS = [[5, 9, 12, IMAGE_TOKEN], [7, 9, IMAGE_TOKEN, 3], [IMAGE_TOKEN, 11, 6, 2]]

# synthetic "images": each answer class has its own prototype pattern
prototypes = mx.random.normal((N_CLASSES, IMG_DIM))


def make_samples(n):
    labels = mx.random.randint(0, N_CLASSES, (n,))
    imgs = prototypes[labels] + 2.5 * mx.random.normal((n, IMG_DIM))
    qs = [QUESTIONS[i % len(QUESTIONS)] for i in range(n)]
    return [{"image": imgs[i], "question": qs[i], "answer": labels[i].item()} for i in range(n)]


def prepare_inputs(images, prompts):
    tokens = mx.array(prompts)
    if images is None:
        pixel_values = None
    else:
        pixel_values = mx.stack(images)
    return {"input_ids": tokens, "pixel_values": pixel_values}


class VisionDataset:
    def __init__(self, samples, model_type):
        self.samples = samples
        self.model_type = model_type

    def process(self, batch):
        use_embedded_images = self.model_type in ("qwen2_vl", "gemma3", "smolvlm")
        images = [s["image"] for s in batch]
        inputs = prepare_inputs(
            images=images,
            prompts=[s["question"] for s in batch],
        )
        inputs["labels"] = mx.array([s["answer"] for s in batch])
        return inputs

    def batches(self, bs):
        order = mx.random.permutation(len(self.samples)).tolist()
        for i in range(0, len(order) - bs + 1, bs):
            yield self.process([self.samples[j] for j in order[i:i + bs]])


class TinyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D)
        self.vision = nn.Sequential(nn.Linear(IMG_DIM, D), nn.GELU(), nn.Linear(D, D))
        self.mix = nn.Linear(D, D)
        self.head = nn.Linear(D, N_CLASSES)

    def __call__(self, input_ids, pixel_values=None):
        h = self.embed(input_ids)                              # (B, T, D)
        is_img = (input_ids == IMAGE_TOKEN)[..., None]
        if pixel_values is not None:
            feats = self.vision(pixel_values)[:, None, :]       # (B, 1, D)
            h = mx.where(is_img, feats, h)
        else:
            h = mx.where(is_img, mx.zeros_like(h), h)          # <image_pad> with no features
        h = nn.gelu(self.mix(h)).mean(axis=1)
        return self.head(h)


def loss_fn(model, batch):
    logits = model(batch["input_ids"], batch["pixel_values"])
    return nn.losses.cross_entropy(logits, batch["labels"], reduction="mean")


train = VisionDataset(make_samples(1200), model_type="qwen2_vl")
val = VisionDataset(make_samples(300), model_type="qwen2_vl")
model = TinyVLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=5e-4, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

print("| iter | train_loss | val_acc |")
print("|-----:|-----------:|--------:|")
it = 0
for epoch in range(8):
    for batch in train.batches(32):
        it += 1
        loss, grads = step_fn(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 30 == 0:
            correct = total = 0
            for vb in val.batches(50):
                pred = mx.argmax(model(vb["input_ids"], vb["pixel_values"]), axis=1)
                correct += mx.sum(pred == vb["labels"]).item()
                total += vb["labels"].size
            print(f"| {it:4d} | {loss.item():10.4f} | {correct / total:7.3f} |")
print(f"chance-level loss would be ln({N_CLASSES}) = {math.log(N_CLASSES):.4f}")
