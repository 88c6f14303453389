# LoRA-style fine-tune of a toy vision-language model on (image, question) -> answer
import logging, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("vlm-train")
mx.random.seed(0)

VOCAB, IMG_TOK, D = 40, 1, 48
ANSWERS = [30, 31, 32, 33]                 # token ids of "red", "green", "blue", "yellow"
PROMPT = [2, IMG_TOK, 5, 6, 7]             # "<bos> <image> what colour is it"

def make_image(cls):
    # 8x8 RGB image: a noisy blob whose colour channel mix encodes the class
    base = mx.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=mx.float32)[cls]
    img = mx.random.uniform(shape=(8, 8, 3)) + 0.12 * base
    return img

class VisionDataset:
    def __init__(self, n, model_type):
        self.labels = mx.random.randint(0, 4, (n,)).tolist()
        self.images = [make_image(c) for c in self.labels]
        self.model_type = model_type
    def __len__(self):
        return len(self.labels)
    def process(self, i):
        use_embedded_images = self.model_type in ("qwen2_vl", "gemma3", "smolvlm")
        images = self.images[i]
        return {
            "input_ids": mx.array(PROMPT + [ANSWERS[self.labels[i]]]),
            # models that splice image features into the text embeddings get no pixels here
            "pixel_values": None if use_embedded_images else images,
        }

class ToyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D)
        self.vision = nn.Sequential(nn.Linear(4 * 4 * 3, D), nn.GELU(), nn.Linear(D, D))
        self.block = nn.TransformerEncoderLayer(D, 4, 2 * D)
        self.lm_head = nn.Linear(D, VOCAB)
    def encode_image(self, px):                     # (B,8,8,3) -> (B,4,D) patch features
        B = px.shape[0]
        p = px.reshape(B, 2, 4, 2, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(B, 4, 48)
        return self.vision(p).mean(axis=1)
    def __call__(self, ids, pixel_values):
        h = self.embed(ids)
        if pixel_values is not None:
            feats = self.encode_image(pixel_values)[:, None, :]
            h = mx.where((ids == IMG_TOK)[..., None], feats, h)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(ids.shape[1])
        return self.lm_head(self.block(h, mask))

def collate(ds, idx):
    items = [ds.process(i) for i in idx]
    ids = mx.stack([it["input_ids"] for it in items])
    px = None if items[0]["pixel_values"] is None else mx.stack([it["pixel_values"] for it in items])
    return ids, px

def loss_fn(model, ids, px):
    logits = model(ids[:, :-1], px)
    # train only on the answer token (last position)
    return nn.losses.cross_entropy(logits[:, -1], ids[:, -1], reduction="mean")

train = VisionDataset(512, "qwen2_vl")
val = VisionDataset(128, "qwen2_vl")
model = ToyVLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-4, weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

log.info("train=%d val=%d chance ce=%.3f", len(train), len(val), float(mx.log(mx.array(4.0))))
t0 = time.time()
step = 0
for epoch in range(1, 17):
    perm = mx.random.permutation(len(train)).tolist()
    for b in range(0, len(train), 32):
        ids, px = collate(train, perm[b:b + 32])
        loss, g = vg(model, ids, px)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
    vids, vpx = collate(val, list(range(len(val))))
    vlogits = model(vids[:, :-1], vpx)[:, -1]
    vce = nn.losses.cross_entropy(vlogits, vids[:, -1], reduction="mean").item()
    vacc = mx.mean(mx.argmax(vlogits, axis=-1) == vids[:, -1]).item()
    log.info("epoch %d step %d train_loss %.4f val_ce %.4f val_acc %.3f (%.1fs)",
             epoch, step, loss.item(), vce, vacc, time.time() - t0)
log.info("done")
