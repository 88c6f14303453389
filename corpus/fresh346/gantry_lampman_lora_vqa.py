"""Railway gantry lamp reader: tiny vision-language model, LoRA question answering.

Stage 1 (base): a tiny VLM (patch tower + projector + causal decoder) learns to
caption 8x8 gantry snapshots slot by slot ("tl red tr dark bl amber br dark").
Stage 2 (adapter): the base is frozen and LoRA adapters on the decoder and the
projector learn a question-answering task ("count red ?" -> "2", "colour bl ?"
-> "amber"), loss on the answer tokens only.  Half-way through stage 2 the run
writes an adapter + optimizer checkpoint, rebuilds everything from disk and
carries on from the saved step.
"""

import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
SLOTS = ["tl", "tr", "bl", "br"]
COLOURS = ["dark", "red", "amber", "green"]
RGB = {"dark": (0.1, 0.1, 0.1), "red": (0.9, 0.1, 0.1),
       "amber": (0.9, 0.6, 0.1), "green": (0.1, 0.8, 0.2)}
SPECIALS = ["<pad>", "<bos>", "<sep>", "<eos>", "describe", "count", "colour", "?"]
DIGITS = ["0", "1", "2", "3", "4"]
VOCAB = SPECIALS + SLOTS + COLOURS + DIGITS
TOK = {w: i for i, w in enumerate(VOCAB)}
PAD = TOK["<pad>"]
TEXT_LEN = 12


def make_scene(rng):
    n_lit = rng.integers(1, 4)
    lit = rng.choice(4, size=n_lit, replace=False)
    colours = ["dark"] * 4
    for s in lit:
        colours[s] = COLOURS[rng.integers(1, 4)]
    img = np.zeros((8, 8, 3), dtype=np.float32)
    for s, c in enumerate(colours):
        r, q = divmod(s, 2)
        img[4 * r:4 * r + 4, 4 * q:4 * q + 4] = RGB[c]
    img += rng.normal(0, 0.12, img.shape).astype(np.float32)
    return img, colours


def encode(prompt, answer):
    ids = [TOK["<bos>"]] + [TOK[w] for w in prompt] + [TOK["<sep>"]]
    n_prompt = len(ids)
    ids += [TOK[w] for w in answer] + [TOK["<eos>"]]
    ids += [PAD] * (TEXT_LEN - len(ids))
    # target at position t is ids[t+1]; supervise answer + eos only
    mask = [1.0 if n_prompt - 1 <= t < n_prompt - 1 + len(answer) + 1 else 0.0
            for t in range(TEXT_LEN - 1)]
    return ids, mask


def caption_set(n, rng):
    imgs, ids, masks = [], [], []
    for _ in range(n):
        img, col = make_scene(rng)
        ans = [w for s, c in zip(SLOTS, col) for w in (s, c)]
        i, m = encode(["describe"], ans)
        imgs.append(img); ids.append(i); masks.append(m)
    return np.stack(imgs), np.array(ids, np.int32), np.array(masks, np.float32)


def vqa_set(n, rng):
    imgs, ids, masks, answers = [], [], [], []
    for _ in range(n):
        img, col = make_scene(rng)
        if rng.random() < 0.5:
            c = COLOURS[rng.integers(1, 4)]
            prompt, ans = ["count", c, "?"], [str(col.count(c))]
        else:
            s = rng.integers(0, 4)
            prompt, ans = ["colour", SLOTS[s], "?"], [col[s]]
        i, m = encode(prompt, ans)
        imgs.append(img); ids.append(i); masks.append(m); answers.append(ans[0])
    return (np.stack(imgs), np.array(ids, np.int32),
            np.array(masks, np.float32), answers)


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln2 = nn.LayerNorm(dims)
        self.fc1 = nn.Linear(dims, 2 * dims)
        self.fc2 = nn.Linear(2 * dims, dims)

    def __call__(self, x, mask=None):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=mask)
        return x + self.fc2(nn.gelu(self.fc1(self.ln2(x))))


class TinyVLM(nn.Module):
    def __init__(self, dims=32, heads=4):
        super().__init__()
        self.patch = nn.Linear(48, dims)
        self.vis_pos = mx.random.normal((4, dims)) * 0.02
        self.vision = Block(dims, heads)
        self.projector = nn.Linear(dims, dims)
        self.embed = nn.Embedding(len(VOCAB), dims)
        self.txt_pos = mx.random.normal((TEXT_LEN, dims)) * 0.02
        self.decoder = [Block(dims, heads), Block(dims, heads)]
        self.ln_f = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, len(VOCAB))

    def __call__(self, images, tokens):
        b = images.shape[0]
        p = images.reshape(b, 2, 4, 2, 4, 3).transpose(0, 1, 3, 2, 4, 5)
        p = p.reshape(b, 4, 48)
        v = self.vision(self.patch(p) + self.vis_pos)
        v = self.projector(v)
        t = self.embed(tokens) + self.txt_pos[: tokens.shape[1]]
        x = mx.concatenate([v, t], axis=1)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        for blk in self.decoder:
            x = blk(x, mask)
        return self.head(self.ln_f(x[:, 4:]))


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, alpha=8.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.linear = base
        self.scale = alpha / rank
        self.lora_a = mx.random.uniform(-1 / math.sqrt(in_d), 1 / math.sqrt(in_d),
                                        (in_d, rank))
        self.lora_b = mx.zeros((rank, out_d))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def add_adapters(model):
    model.freeze()
    for blk in model.decoder:
        blk.attn.query_proj = LoRALinear(blk.attn.query_proj)
        blk.attn.value_proj = LoRALinear(blk.attn.value_proj)
        blk.fc1 = LoRALinear(blk.fc1)
    model.projector = LoRALinear(model.projector)


def masked_ce(model, imgs, ids, mask):
    logits = model(imgs, ids[:, :-1])
    ce = nn.losses.cross_entropy(logits, ids[:, 1:], reduction="none")
    return (ce * mask).sum() / mask.sum()


def answer_accuracy(model, imgs, ids, mask, bs=500):
    hits = 0
    for s in range(0, imgs.shape[0], bs):
        im, ii, mm = imgs[s:s + bs], ids[s:s + bs], mask[s:s + bs]
        logits = model(im, ii[:, :-1])
        # first supervised position is the answer token
        first = mx.argmax(mm, axis=1)
        pred = mx.take_along_axis(mx.argmax(logits, axis=-1), first[:, None], axis=1)
        gold = mx.take_along_axis(ii[:, 1:], first[:, None], axis=1)
        hits += int((pred == gold).sum().item())
    return hits / imgs.shape[0]


def batches(n, bs, rng):
    while True:
        perm = rng.permutation(n)
        for s in range(0, n - bs + 1, bs):
            yield mx.array(perm[s:s + bs])


def make_schedule(peak, warm, total):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, total - warm, end=peak * 0.05)], [warm])


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    workdir = tempfile.mkdtemp()

    c_img, c_ids, c_mask = [mx.array(a) for a in caption_set(3000, rng)]
    q_img, q_ids, q_mask, _ = vqa_set(3000, rng)
    v_img, v_ids, v_mask, v_ans = vqa_set(400, rng)
    q_img, q_ids, q_mask = mx.array(q_img), mx.array(q_ids), mx.array(q_mask)
    v_img, v_ids, v_mask = mx.array(v_img), mx.array(v_ids), mx.array(v_mask)
    majority = max(v_ans.count(a) for a in set(v_ans)) / len(v_ans)

    # ---- stage 1: base captioning, reported in one line at the end ----
    model = TinyVLM()
    opt = optim.Adam(learning_rate=2e-3)
    step_fn = nn.value_and_grad(model, masked_ce)
    it = batches(c_img.shape[0], 32, rng)
    for step in range(1, 201):
        idx = next(it)
        loss, g = step_fn(model, c_img[idx], c_ids[idx], c_mask[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
    model.eval()
    cap_loss = masked_ce(model, c_img[:400], c_ids[:400], c_mask[:400]).item()
    base_path = os.path.join(workdir, "base.safetensors")
    model.save_weights(base_path)
    print(f"[base] caption pretraining 200 steps, caption loss {cap_loss:.3f}, "
          f"{time.time() - t0:.1f}s")
    print(f"[base] zero-shot VQA accuracy {answer_accuracy(model, v_img, v_ids, v_mask):.3f} "
          f"(majority-answer baseline {majority:.3f})")

    # ---- stage 2: LoRA question answering with a mid-run resume ----
    total, warm, resume_at = 240, 24, 120

    def build(from_adapter=None, opt_state=None):
        m = TinyVLM()
        m.load_weights(base_path)
        add_adapters(m)
        if from_adapter is not None:
            m.load_weights(from_adapter, strict=False)
        o = optim.AdamW(learning_rate=make_schedule(3e-3, warm, total),
                        weight_decay=0.0)
        if opt_state is not None:
            o.state = opt_state
        m.train()
        return m, o

    model, opt = build()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"[lora] trainable {n_train} of {n_all} parameters "
          f"({100 * n_train / n_all:.1f}%), base frozen")
    step_fn = nn.value_and_grad(model, masked_ce)
    it = batches(q_img.shape[0], 32, rng)
    run = 0.0
    for step in range(1, total + 1):
        idx = next(it)
        loss, g = step_fn(model, q_img[idx], q_ids[idx], q_mask[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        if step == 1 or step % 24 == 0:
            lr = opt.learning_rate.item()
            model.eval()
            acc = answer_accuracy(model, v_img, v_ids, v_mask)
            model.train()
            shown = loss.item() if step == 1 else run / 24
            print(f"step {step:4d}  lr {lr:.2e}  answer loss {shown:.4f}  "
                  f"val acc {acc:.3f}")
            run = 0.0
        if step == resume_at:
            ad_path = os.path.join(workdir, "adapters.safetensors")
            st_path = os.path.join(workdir, "optimizer.safetensors")
            mx.save_safetensors(ad_path, dict(tree_flatten(model.trainable_parameters())))
            mx.save_safetensors(st_path, dict(tree_flatten(opt.state)))
            del model, opt
            state = tree_unflatten(list(mx.load(st_path).items()))
            model, opt = build(ad_path, state)
            step_fn = nn.value_and_grad(model, masked_ce)
            print(f"[ckpt] wrote adapters + optimizer at step {step}, rebuilt model "
                  f"from disk, optimizer step counter {int(opt.state['step'].item())}")

    model.eval()
    acc = answer_accuracy(model, v_img, v_ids, v_mask)
    print(f"[done] val answer accuracy {acc:.3f} vs majority baseline {majority:.3f}, "
          f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
