"""Apiary frame inspections: caption pretraining, then 4-bit QLoRA VQA tuning.

Stage "caption": a tiny VLM (patch tower + 2-block decoder) learns to caption
8x8 hive-frame photos with "<fill> <queen-cell>".
Stage "qlora": the decoder is quantised to 4 bits (nn.quantize), everything
is frozen, LoRA adapters go on q/v/fc1 and the model learns short VQA answers
("fill ?" -> honey, "queen ?" -> yes). Adafactor with a warm-up from lr 0,
gradient checkpointing on the decoder blocks, an adapter + optimizer
checkpoint at step 90 and a resume into freshly built objects.
Inspectors mis-key 8% of the VQA training answers, so the train loss floors.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

FILLS = ["honey", "brood", "pollen", "empty"]
FILL_RGB = {"honey": (0.95, 0.7, 0.1), "brood": (0.6, 0.4, 0.2),
            "pollen": (0.9, 0.5, 0.6), "empty": (0.85, 0.8, 0.6)}
VOCAB = ["<pad>", "<eos>", "caption", ":", "fill", "queen", "?", "yes", "no"] + FILLS
T = {w: i for i, w in enumerate(VOCAB)}
NOISE = 0.08


def frame(fill, queen):
    base = np.array(FILL_RGB[fill])
    img = np.tile(base, (8, 8, 1)) * rng.uniform(0.75, 1.15)
    yy, xx = np.mgrid[0:8, 0:8]
    if fill == "brood":
        img[(yy + 2 * xx) % 3 == 0] *= 0.55
    elif fill == "pollen":
        img[(xx % 2 == 0)] *= 0.8
    if queen:
        r, c = rng.integers(0, 7, 2)
        img[r:r + 2, c:c + 2] = (0.1, 0.1, 1.0)
    img += rng.normal(0, 0.07, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def sample(n):
    fills = rng.integers(0, 4, n)
    queens = rng.random(n) < 0.35
    imgs = np.stack([frame(FILLS[f], q) for f, q in zip(fills, queens)])
    return imgs, fills, queens


def patches(imgs):
    n = imgs.shape[0]
    return imgs.reshape(n, 2, 4, 2, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(n, 4, 48)


def caption_batch(imgs, fills, queens):
    n = len(fills)
    prompt = np.tile([T["caption"], T[":"]], (n, 1))
    ans = np.stack([[T[FILLS[f]] for f in fills], [T["yes"] if q else T["no"] for q in queens],
                    np.full(n, T["<eos>"])], 1)
    return mx.array(patches(imgs)), mx.array(prompt), mx.array(ans)


def vqa_batch(imgs, fills, queens, noisy):
    n = len(fills)
    ask_fill = rng.random(n) < 0.5
    prompt = np.stack([np.where(ask_fill, T["fill"], T["queen"]), np.full(n, T["?"])], 1)
    fill_ans = fills.copy()
    q_ans = queens.copy()
    if noisy:
        slip = rng.random(n) < NOISE
        fill_ans = np.where(slip, rng.integers(0, 4, n), fill_ans)
        q_ans = np.where(slip, ~q_ans, q_ans)
    first = np.where(ask_fill, [T[FILLS[f]] for f in fill_ans], np.where(q_ans, T["yes"], T["no"]))
    ans = np.stack([first, np.full(n, T["<eos>"])], 1)
    return mx.array(patches(imgs)), mx.array(prompt), mx.array(ans), ask_fill


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.o_proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)
        self.heads = 4

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.ln1(x)
        sh = lambda t: t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        q, k, v = sh(self.q_proj(h)), sh(self.k_proj(h)), sh(self.v_proj(h))
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // self.heads) ** -0.5, mask=mask)
        x = x + self.o_proj(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.fc2(nn.gelu(self.fc1(self.ln2(x))))


class HiveVLM(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.patch = nn.Linear(48, d)
        self.vpos = mx.random.normal((4, d)) * 0.02
        self.projector = nn.Sequential(nn.GELU(), nn.Linear(d, d))
        self.embed = nn.Embedding(len(VOCAB), d)
        self.tpos = nn.Embedding(12, d)
        self.blocks = [Block(d), Block(d)]
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, len(VOCAB))

    def __call__(self, pix, tokens):
        img = self.projector(self.patch(pix) + self.vpos)
        x = mx.concatenate([img, self.embed(tokens)], 1)
        x = x + self.tpos(mx.arange(x.shape[1]))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.norm(x))


def answer_loss(model, pix, prompt, ans):
    toks = mx.concatenate([prompt, ans[:, :-1]], 1)
    logits = model(pix, toks)[:, 4 + prompt.shape[1] - 1:]
    return nn.losses.cross_entropy(logits, ans, reduction="mean")


def first_answer(model, pix, prompt):
    return mx.argmax(model(pix, prompt)[:, -1], -1)


class LoRALinear(nn.Module):
    def __init__(self, base, r=8, alpha=16):
        super().__init__()
        self.base = base
        d_in = base.weight.shape[1] * (32 // base.bits) if isinstance(base, nn.QuantizedLinear) else base.weight.shape[1]
        d_out = base.weight.shape[0]
        self.lora_a = mx.random.uniform(-d_in ** -0.5, d_in ** -0.5, (d_in, r))
        self.lora_b = mx.zeros((r, d_out))
        self.scale = alpha / r

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def grad_checkpoint(layer):
    fn = type(layer).__call__

    def checkpointed_fn(model, *args, **kwargs):
        def inner_fn(params, *args, **kwargs):
            model.update(params)
            return fn(model, *args, **kwargs)

        return mx.checkpoint(inner_fn)(model.trainable_parameters(), *args, **kwargs)

    type(layer).__call__ = checkpointed_fn


def to_qlora(model):
    nn.quantize(model, group_size=64, bits=4,
                class_predicate=lambda p, m: isinstance(m, nn.Linear) and p.startswith("blocks"))
    model.freeze()
    for b in model.blocks:
        b.q_proj = LoRALinear(b.q_proj)
        b.v_proj = LoRALinear(b.v_proj)
        b.fc1 = LoRALinear(b.fc1)
    return model


def make_opt():
    sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-2, 30), optim.cosine_decay(1e-2, 150, 1e-3)], [30])
    return optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False)


def count(params):
    return sum(v.size for _, v in tree_flatten(params))


def vqa_eval(model, vbatch, blind=False):
    pix, prompt, ans, ask_fill = vbatch
    if blind:
        pix = mx.zeros_like(pix)
    loss = answer_loss(model, pix, prompt, ans).item()
    pred = np.array(first_answer(model, pix, prompt))
    ok = pred == np.array(ans[:, 0])
    return loss, ok[ask_fill].mean(), ok[~ask_fill].mean()


def main():
    t0 = time.time()
    val = sample(300)
    vqa_val = vqa_batch(*val, noisy=False)
    # ---------------- stage caption (full precision, quiet)
    model = HiveVLM()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    step = nn.value_and_grad(model, answer_loss)
    for it in range(200):
        pix, prompt, ans = caption_batch(*sample(32))
        loss, g = step(model, pix, prompt, ans)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    vpix, vprompt, vans = caption_batch(*val)
    cap_loss = answer_loss(model, vpix, vprompt, vans).item()
    print(f"[caption] 200 steps done  val caption ce {cap_loss:.3f}  ({time.time() - t0:.1f}s)")
    vq = vqa_eval(model, vqa_val)
    print(f"[caption] zero-shot VQA  ce {vq[0]:.3f}  fill acc {vq[1]:.3f}  queen acc {vq[2]:.3f}")

    # ---------------- quantise + LoRA
    with tempfile.TemporaryDirectory() as tmp:
        base_path = os.path.join(tmp, "base.safetensors")
        model.save_weights(base_path)
        model = to_qlora(model)
        for b in model.blocks:
            grad_checkpoint(b)
        mx.eval(model.parameters())
        q_loss = answer_loss(model, vpix, vprompt, vans).item()
        print(f"[qlora] 4-bit decoder: val caption ce {cap_loss:.3f} -> {q_loss:.3f}  "
              f"trainable {count(model.trainable_parameters())} of {count(model.parameters())}")
        f_floor = -(1 - NOISE) * np.log(1 - NOISE + NOISE / 4) - NOISE * 0.75 * np.log(NOISE / 4)
        q_floor = -(1 - NOISE) * np.log(1 - NOISE) - NOISE * np.log(NOISE)
        print(f"[qlora] label slips {NOISE:.0%}: train ce floor ~{(f_floor + q_floor) / 4:.3f} "
              f"(fill {f_floor:.3f}, queen {q_floor:.3f}, eos ~0, averaged over 2 answer tokens)")

        opt = make_opt()
        step = nn.value_and_grad(model, answer_loss)
        print(f"{'stage':8s}{'step':>6s}{'lr':>10s}{'train ce':>10s}{'val ce':>9s}{'fill acc':>10s}{'queen acc':>11s}")
        run = 0.0
        for it in range(1, 181):
            if it == 91:
                ck = os.path.join(tmp, "adapters.safetensors")
                model.save_weights(ck)
                mx.save_safetensors(os.path.join(tmp, "opt.safetensors"), dict(tree_flatten(opt.state)))
                before = vqa_eval(model, vqa_val)[0]
                del model, opt, step
                model = to_qlora(HiveVLM())
                model.load_weights(ck)
                for b in model.blocks:
                    grad_checkpoint(b)
                opt = make_opt()
                opt.init(model.trainable_parameters())
                opt.state = tree_unflatten(list(mx.load(os.path.join(tmp, "opt.safetensors")).items()))
                step = nn.value_and_grad(model, answer_loss)
                after = vqa_eval(model, vqa_val)[0]
                print(f"resume  step {opt.step.item()}  val ce before {before:.4f} after {after:.4f}  "
                      f"lr {opt.learning_rate.item():.2e}")
            imgs, fills, queens = sample(32)
            pix, prompt, ans, _ = vqa_batch(imgs, fills, queens, noisy=True)
            loss, g = step(model, pix, prompt, ans)
            opt.update(model, g)
            mx.eval(model.trainable_parameters(), opt.state, loss)
            run += loss.item()
            if it == 1 or it % 30 == 0:
                n = 1 if it == 1 else 30
                vl, fa, qa = vqa_eval(model, vqa_val)
                print(f"{'qlora':8s}{it:6d}{opt.learning_rate.item():10.2e}{run / n:10.3f}{vl:9.3f}{fa:10.3f}{qa:11.3f}")
                run = 0.0
    vl, fa, qa = vqa_eval(model, vqa_val)
    bl, bfa, bqa = vqa_eval(model, vqa_val, blind=True)
    maj_q = max(np.mean(val[2]), 1 - np.mean(val[2]))
    print(f"final  fill acc {fa:.3f} (blind {bfa:.3f}, majority {np.bincount(val[1]).max() / len(val[1]):.3f})  "
          f"queen acc {qa:.3f} (blind {bqa:.3f}, majority {maj_q:.3f})  total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
