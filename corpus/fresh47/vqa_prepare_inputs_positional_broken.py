"""Tiny VQA-style fine-tune: an image feature is spliced into the prompt at the
<image> placeholder and the model answers with one of 8 colour words."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)

WORDS = ["<pad>", "<image>", "what", "colour", "is", "this", "shape", "?",
         "red", "green", "blue", "yellow", "cyan", "magenta", "white", "black"]
VOCAB = {w: i for i, w in enumerate(WORDS)}
IMAGE_TOKEN = VOCAB["<image>"]
ANSWERS = WORDS[8:]
FEAT = 24          # raw "pixel" feature length produced by the camera
RESIZE = 16        # what the vision tower expects


def tokenize(text):
    return [VOCAB[w] for w in text.split()]


def prepare_inputs(tokenizer, images=None, audio=None, prompts=None,
                   image_token_index=None, resize_shape=None):
    """Shared preprocessing helper (audio support was added later)."""
    if audio is not None and images is None:
        raise ValueError("audio-only batches are not supported by this model")
    ids = [tokenizer(p) for p in prompts]
    width = max(len(x) for x in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int32)
    for i, x in enumerate(ids):
        input_ids[i, :len(x)] = x
    if images is not None:
        imgs = np.stack(images)[:, :resize_shape].astype(np.float32)
    else:
        imgs = None
    if image_token_index is not None:
        assert (input_ids == image_token_index).sum(1).min() == 1
    return {"input_ids": input_ids, "pixel_values": imgs}


# synthetic "images": class prototype + noise
protos = rng.normal(size=(len(ANSWERS), FEAT)).astype(np.float32)


def make_split(n):
    ys = rng.integers(0, len(ANSWERS), size=n)
    xs = protos[ys] + 1.4 * rng.normal(size=(n, FEAT)).astype(np.float32)
    qs = [rng.choice(["what colour is this <image> ?",
                      "<image> what colour is this shape ?",
                      "what colour is this shape <image> ?"]) for _ in range(n)]
    return list(xs), qs, ys.astype(np.int32)


class VQADataset:
    def __init__(self, n, resize):
        self.images, self.prompts, self.labels = make_split(n)
        self.resize = resize

    def batches(self, bs, shuffle=True):
        order = rng.permutation(len(self.labels)) if shuffle else np.arange(len(self.labels))
        for s in range(0, len(order), bs):
            idx = order[s:s + bs]
            images = [self.images[i] for i in idx]
            prompts = [self.prompts[i] for i in idx]
            inputs = prepare_inputs(
                tokenize,
                images,
                prompts,
                IMAGE_TOKEN,
                self.resize,
            )
            yield (mx.array(inputs["input_ids"]), mx.array(inputs["pixel_values"]),
                   mx.array(self.labels[idx]))


class TinyVLM(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.embed = nn.Embedding(len(WORDS), dim)
        self.vision = nn.Sequential(nn.Linear(RESIZE, dim), nn.GELU(), nn.Linear(dim, dim))
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, len(ANSWERS))

    def __call__(self, input_ids, pixel_values):
        tok = self.embed(input_ids)
        img = self.vision(pixel_values)[:, None, :]
        is_img = (input_ids == IMAGE_TOKEN)[..., None]
        h = mx.where(is_img, img, tok)
        keep = (input_ids != 0)[..., None].astype(h.dtype)
        pooled = (nn.gelu(self.mix(h)) * keep).sum(1) / keep.sum(1)
        return self.head(pooled)


def loss_fn(model, ids, px, y):
    return nn.losses.cross_entropy(model(ids, px), y, reduction="mean")


def main():
    mx.random.seed(0)
    train, val = VQADataset(4096, RESIZE), VQADataset(512, RESIZE)
    model = TinyVLM()
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    print(f"train={len(train.labels)} val={len(val.labels)} answers={len(ANSWERS)}")
    t0 = time.time()
    for epoch in range(1, 13):
        tot, n = 0.0, 0
        for ids, px, y in train.batches(32):
            loss, grads = step_fn(model, ids, px, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * y.shape[0]
            n += y.shape[0]
        correct = 0
        for ids, px, y in val.batches(128, shuffle=False):
            correct += (model(ids, px).argmax(-1) == y).sum().item()
        print(f"[epoch {epoch}] train_ce={tot / n:.4f} val_acc={correct / len(val.labels):.3f} "
              f"({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
