# Sorting-office postmark reader: a tiny vision-language model looks at an 8x8
# RGB scan of a postmark impression and writes "<town> <rings> <ink>".
#   stage 0: text-only pretraining of the decoder on caption strings (it cannot
#            see the image, so it settles on the grammar / frequency floor)
#   stage 1: alignment - train vision tower + projector, decoder frozen
#   stage 2: LoRA adapters on the decoder + projector, vision tower frozen,
#            saved to disk halfway, reloaded into fresh objects and continued
# Every stage warms the learning rate up from exactly 0.
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

TOWNS = ["ayr", "bude", "cley", "deal", "ely", "fowey"]
RINGS = ["one", "two", "three"]
INKS = ["black", "red", "blue", "violet"]
VOCAB = ["<bos>", "<eos>"] + TOWNS + RINGS + INKS
TOK = {w: i for i, w in enumerate(VOCAB)}
INK_RGB = {"black": (0.1, 0.1, 0.1), "red": (0.9, 0.15, 0.1),
           "blue": (0.1, 0.2, 0.9), "violet": (0.6, 0.1, 0.7)}

yy, xx = np.mgrid[0:8, 0:8]
RADIUS = np.hypot(yy - 3.5, xx - 3.5)
# each town has its own cancellation-bar position inside the stamp
TOWN_MASKS = []
for k in range(6):
    m = np.zeros((8, 8))
    if k < 3:
        m[1 + 2 * k, 1:7] = 1.0
    else:
        m[1:7, 1 + 2 * (k - 3)] = 1.0
    TOWN_MASKS.append(m)


def make_split(n, label_noise):
    imgs = np.zeros((n, 8, 8, 3), np.float32)
    caps = np.zeros((n, 5), np.int32)
    for i in range(n):
        t = rng.integers(0, 6)
        r = rng.integers(0, 3)
        c = rng.integers(0, 4)
        rings = np.zeros((8, 8))
        for j in range(r + 1):
            rings += np.exp(-((RADIUS - (3.6 - 1.1 * j)) ** 2) / 0.15)
        ink = 0.55 * rings + 0.8 * TOWN_MASKS[t]
        ink = np.clip(ink * rng.uniform(0.7, 1.0), 0, 1)
        paper = 0.92 + 0.04 * rng.normal(size=(8, 8, 1))
        rgb = np.array(INK_RGB[INKS[c]])
        img = paper * (1 - ink[..., None]) + ink[..., None] * rgb
        imgs[i] = img + 0.05 * rng.normal(size=(8, 8, 3))
        cap_c = c
        if rng.uniform() < label_noise:  # clerks sometimes misread the ink
            cap_c = rng.integers(0, 4)
        caps[i] = [TOK["<bos>"], TOK[TOWNS[t]], TOK[RINGS[r]],
                   TOK[INKS[cap_c]], TOK["<eos>"]]
    return mx.array(imgs), mx.array(caps)


train_imgs, train_caps = make_split(3000, label_noise=0.06)
val_imgs, val_caps = make_split(600, label_noise=0.0)

D = 32
N_IMG = 4  # 4x4 patches -> 4 image tokens
SEQ = N_IMG + 4


class VisionTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Linear(48, 64)
        self.mix = nn.Linear(64, 64)
        self.pos = mx.random.normal((N_IMG, 64)) * 0.02
        self.norm = nn.LayerNorm(64)

    def __call__(self, img):
        b = img.shape[0]
        p = img.reshape(b, 2, 4, 2, 4, 3).transpose(0, 1, 3, 2, 4, 5)
        p = p.reshape(b, N_IMG, 48)
        h = nn.gelu(self.patch(p)) + self.pos
        return self.norm(h + nn.gelu(self.mix(h)))


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, alpha=8.0):
        super().__init__()
        out_dim, in_dim = base.weight.shape
        self.base = base
        self.base.freeze()
        self.scale = alpha / rank
        self.lora_a = mx.random.normal((in_dim, rank)) * (1.0 / rank ** 0.5)
        self.lora_b = mx.zeros((rank, out_dim))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Block(nn.Module):
    def __init__(self, d, heads=4):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.up = nn.Linear(d, 4 * d)
        self.down = nn.Linear(4 * d, d)

    def __call__(self, x, mask):
        b, L, d = x.shape
        h = self.ln1(x)
        def split(t):
            return t.reshape(b, L, self.heads, d // self.heads).transpose(0, 2, 1, 3)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        a = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=(d // self.heads) ** -0.5, mask=mask)
        x = x + self.o(a.transpose(0, 2, 1, 3).reshape(b, L, d))
        return x + self.down(nn.gelu(self.up(self.ln2(x))))


def lead_mask():
    m = np.full((SEQ, SEQ), -1e9, np.float32)
    m[:, :N_IMG] = 0.0  # everyone sees the image tokens
    for i in range(N_IMG, SEQ):
        m[i, N_IMG:i + 1] = 0.0  # causal over the caption
    return mx.array(m)


MASK = lead_mask()


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB), D)
        self.pos = nn.Embedding(SEQ, D)
        self.blocks = [Block(D)]
        self.ln = nn.LayerNorm(D)
        self.head = nn.Linear(D, len(VOCAB))

    def __call__(self, lead, tokens):
        x = mx.concatenate([lead, self.embed(tokens)], axis=1)
        x = x + self.pos(mx.arange(SEQ))
        for blk in self.blocks:
            x = blk(x, MASK)
        return self.head(self.ln(x))[:, N_IMG:]


class PostmarkVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision = VisionTower()
        self.projector = nn.Sequential(nn.Linear(64, D), nn.GELU(), nn.Linear(D, D))
        self.decoder = Decoder()

    def __call__(self, img, tokens, use_image=True):
        if use_image:
            lead = self.projector(self.vision(img))
        else:
            lead = mx.zeros((tokens.shape[0], N_IMG, D))
        return self.decoder(lead, tokens)


def caption_loss(model, img, caps, use_image=True):
    logits = model(img, caps[:, :-1], use_image)
    return nn.losses.cross_entropy(logits, caps[:, 1:], reduction="mean")


def greedy_exact_match(model, img, caps, use_image=True):
    b = img.shape[0]
    toks = mx.full((b, 4), TOK["<bos>"], dtype=mx.int32)
    for pos in range(3):
        logits = model(img, toks, use_image)
        nxt = mx.argmax(logits[:, pos], axis=-1).astype(mx.int32)
        toks = mx.concatenate([toks[:, :pos + 1], nxt[:, None],
                               toks[:, pos + 2:]], axis=1)
    pred = toks[:, 1:4]
    ok = mx.all(pred == caps[:, 1:4], axis=1)
    return ok.astype(mx.float32).mean().item()


def warm_then_cosine(peak, warm, total):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, total - warm, end=peak * 0.05)], [warm])


def run_stage(name, model, opt, steps, use_image, report_every, start=0,
              stop_at=None):
    lg = nn.value_and_grad(model, lambda m, i, c: caption_loss(m, i, c, use_image))
    n = train_imgs.shape[0]
    losses = []
    for s in range(start, steps if stop_at is None else stop_at):
        idx = mx.array(rng.integers(0, n, 48))
        loss, grads = lg(model, train_imgs[idx], train_caps[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        if s % report_every == 0 or s == steps - 1:
            lr = opt.learning_rate.item()
            print(f"[{name}] step {s:4d}  lr {lr:.2e}  loss {losses[-1]:.4f}")
    return losses


def n_trainable(model):
    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))


t_start = time.time()
model = PostmarkVLM()
mx.eval(model.parameters())

# the best a text-only reader can do: entropy of (town, rings, ink) + exact eos
floor = (np.log(6) + np.log(3) + np.log(4) + 0.0) / 4
print(f"text-only loss floor (uniform town/rings/ink): {floor:.4f}")

# ---- stage 0: text-only pretraining of the decoder ----
model.freeze()
model.decoder.unfreeze()
print(f"stage 0 trainable params: {n_trainable(model)}")
opt0 = optim.Adam(learning_rate=warm_then_cosine(3e-3, 20, 150))
run_stage("text", model, opt0, 150, use_image=False, report_every=30)
blind_acc = greedy_exact_match(model, val_imgs, val_caps, use_image=False)

# ---- stage 1: align vision tower + projector, decoder frozen ----
model.freeze()
model.vision.unfreeze()
model.projector.unfreeze()
print(f"stage 1 trainable params: {n_trainable(model)}")
opt1 = optim.AdamW(learning_rate=warm_then_cosine(6e-3, 25, 250), weight_decay=0.01)
l1 = run_stage("align", model, opt1, 250, use_image=True, report_every=50)
align_acc = greedy_exact_match(model, val_imgs, val_caps)
print(f"after alignment: val exact match {align_acc:.3f}")


# ---- stage 2: LoRA on the decoder, with a mid-stage save / reload ----
def add_lora(m):
    m.freeze()
    for blk in m.decoder.blocks:
        for name in ("q", "k", "v", "o", "up", "down"):
            setattr(blk, name, LoRALinear(getattr(blk, name), rank=8, alpha=16.0))
    m.projector.unfreeze()
    return m


model = add_lora(model)
print(f"stage 2 trainable params: {n_trainable(model)}")
sched2 = warm_then_cosine(6e-3, 20, 300)
opt2 = optim.Adam(learning_rate=sched2)
run_stage("lora", model, opt2, 300, use_image=True, report_every=40, stop_at=150)

ckpt_dir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                    dict(tree_flatten(opt2.state)))
print(f"checkpoint written after step 149 to {ckpt_dir}")
del model, opt2

model = add_lora(PostmarkVLM())
model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
opt2 = optim.Adam(learning_rate=sched2)
opt2.init(model.trainable_parameters())
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt2.state)
print(f"resumed: optimizer step counter {opt2.step.item()}, "
      f"lr {opt2.learning_rate.item():.2e}")
run_stage("lora", model, opt2, 300, use_image=True, report_every=40, start=150)
shutil.rmtree(ckpt_dir)

final_acc = greedy_exact_match(model, val_imgs, val_caps)
val_loss = caption_loss(model, val_imgs, val_caps).item()
caps_np = np.array(train_caps[:, 1:4])
vals, counts = np.unique(caps_np, axis=0, return_counts=True)
majority = vals[counts.argmax()]
maj_acc = float(np.mean(np.all(np.array(val_caps[:, 1:4]) == majority, axis=1)))
print(f"val caption loss {val_loss:.4f} (text-only floor {floor:.4f})")
print(f"val exact match: model {final_acc:.3f} | after alignment {align_acc:.3f} | "
      f"text-only decoder {blind_acc:.3f} | majority caption {maj_acc:.3f}")
print(f"total time {time.time() - t_start:.1f}s")
