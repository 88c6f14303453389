# Salt-marsh tide gauge: classify the inundation regime of a 48-reading gauge
# window.  Site A model is pretrained in float, exported as a 4-bit GPTQ (v1
# layout, asymmetric, group size 16) checkpoint, reloaded by dequantizing the
# packed tensors on MLX, and then LoRA-adapted to site B.
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

WIN, NCLS, GS, BITS = 48, 4, 16, 4


def make_site(n, rng, offset=0.0, amp_gain=1.0):
    t = np.arange(WIN, dtype=np.float32)
    level = rng.uniform(0.2, 1.6, n).astype(np.float32)
    amp = rng.uniform(0.1, 1.0, n).astype(np.float32)
    trend = rng.uniform(-0.01, 0.01, n).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    x = (level[:, None] + offset + amp_gain * amp[:, None]
         * np.sin(2 * np.pi * t / 12.4 + phase[:, None]) + trend[:, None] * t)
    x = x + 0.05 * rng.standard_normal(x.shape).astype(np.float32)
    score_lvl = level + 12.0 * trend
    y = (score_lvl > 0.9).astype(np.int32) * 2 + (amp > 0.55).astype(np.int32)
    return x.astype(np.float32), y


def smoothing_bank(n_out=16, width=8):
    w = np.zeros((n_out, WIN), dtype=np.float32)
    starts = np.linspace(0, WIN - width, n_out).astype(int)
    for o, s in enumerate(starts):
        k = np.hanning(width + 2)[1:-1]
        w[o, s:s + width] = k / k.sum()
    return w


class GaugeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.front = nn.Linear(WIN, 16, bias=False)
        self.l1 = nn.Linear(WIN + 16, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, NCLS)

    def __call__(self, x):
        h = mx.concatenate([x, self.front(x)], axis=-1)
        h = nn.gelu(self.l1(h))
        h = nn.gelu(self.l2(h))
        return self.head(h)


class LoRALinear(nn.Module):
    def __init__(self, base, r=4, alpha=8.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.scale = alpha / r
        self.lora_a = mx.random.normal((in_d, r)) * (1.0 / np.sqrt(in_d))
        self.lora_b = mx.zeros((r, out_d))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return float((mx.argmax(model(x), axis=-1) == y).astype(mx.float32).mean())


# ---------------- GPTQ v1 export (AutoGPTQ packing) ----------------
def gptq_pack(w):
    w = np.asarray(w, dtype=np.float32)           # [out, in]
    out_d, in_d = w.shape
    groups = in_d // GS
    wg = w.reshape(out_d, groups, GS)
    xmin = np.minimum(wg.min(-1), 0.0)
    xmax = np.maximum(wg.max(-1), 0.0)
    empty = (xmin == 0) & (xmax == 0)
    xmin[empty], xmax[empty] = -1.0, 1.0
    scale = (xmax - xmin) / 15.0
    zero = np.round(-xmin / scale)
    q = np.clip(np.round(wg / scale[..., None]) + zero[..., None], 0, 15)
    q = q.reshape(out_d, in_d).astype(np.uint32).T              # [in, out]
    qweight = np.zeros((in_d // 8, out_d), dtype=np.uint32)
    for k in range(8):
        qweight |= q[k::8] << np.uint32(4 * k)
    zs = ((zero.T.astype(np.int64) - 1) & 0xF).astype(np.uint32)   # [groups, out]
    qzeros = np.zeros((groups, out_d // 8), dtype=np.uint32)
    for k in range(8):
        qzeros |= zs[:, k::8] << np.uint32(4 * k)
    return {
        "qweight": mx.array(qweight.view(np.int32)),
        "qzeros": mx.array(qzeros.view(np.int32)),
        "scales": mx.array(scale.T.astype(np.float16)),
        "g_idx": mx.array((np.arange(in_d) // GS).astype(np.int32)),
    }


def _mlx_reinterpret_uint32(arr):
    a = arr.astype(mx.int64)
    return mx.where(a < 0, a + (1 << 32), a)


def gptq_dequantize_weight(qweight, qzeros, scales, g_idx, bits=4):
    qw = _mlx_reinterpret_uint32(qweight)               # [in//8, out]
    qz = _mlx_reinterpret_uint32(qzeros)                # [groups, out//8]
    scales = scales.astype(mx.float32)                  # [groups, out]
    shifts = mx.arange(0, 32, bits).astype(mx.int64)    # [8]
    w = (mx.right_shift(qw[:, None, :], shifts[None, :, None]) & 0xF)
    w = w.reshape(-1, qw.shape[1]).astype(mx.float32)   # [in, out]
    z = (mx.right_shift(qz[:, :, None], shifts[None, None, :]) & 0xF)
    z = ((z.reshape(qz.shape[0], -1) + 1) & 0xF).astype(mx.float32)   # [groups, out]
    g = g_idx.astype(mx.int32)                          # [in]
    eff = (w - z[g]) * scales[g]                        # [in, out]
    return mx.transpose(eff)                            # [out, in]


LAYERS = ["front", "l1", "l2"]   # head stays in float (not packed)


def main():
    t0 = time.time()
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    xa, ya = make_site(6000, rng)
    xav, yav = make_site(1500, rng)
    xb, yb = make_site(1200, rng, offset=-0.25, amp_gain=1.3)
    xbv, ybv = make_site(1500, rng, offset=-0.25, amp_gain=1.3)
    xa, ya, xav, yav = map(mx.array, (xa, ya, xav, yav))
    xb, yb, xbv, ybv = map(mx.array, (xb, yb, xbv, ybv))
    print(f"site A train {xa.shape[0]}  val {xav.shape[0]}   site B train {xb.shape[0]}  val {xbv.shape[0]}")

    # ---- stage 1: site A pretraining (constant smoothing front end) ----
    model = GaugeNet()
    model.front.weight = mx.array(smoothing_bank())
    model.front.freeze()
    opt = optim.Adam(learning_rate=2e-3)
    step = nn.value_and_grad(model, loss_fn)
    bs = 128
    for epoch in range(1, 9):
        perm = mx.array(rng.permutation(xa.shape[0]))
        tot, nb = 0.0, 0
        for i in range(0, xa.shape[0], bs):
            idx = perm[i:i + bs]
            loss, g = step(model, xa[idx], ya[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        if epoch % 2 == 0:
            print(f"[pretrain] epoch {epoch}  loss {tot / nb:.4f}  siteA val acc {accuracy(model, xav, yav):.3f}")
    acc_float = accuracy(model, xav, yav)
    print(f"[pretrain] float model siteA val acc {acc_float:.3f}")

    # ---- stage 2: export to GPTQ v1 4-bit and reload ----
    tmp = tempfile.mkdtemp("_gauge_gptq")
    ckpt = {}
    for name in LAYERS:
        lyr = getattr(model, name)
        for k, v in gptq_pack(lyr.weight).items():
            ckpt[f"{name}.{k}"] = v
        if "bias" in lyr:
            ckpt[f"{name}.bias"] = lyr["bias"]
    ckpt["head.weight"] = model.head.weight
    ckpt["head.bias"] = model.head.bias
    path = os.path.join(tmp, "model.safetensors")
    mx.save_safetensors(path, ckpt)
    print(f"[export] wrote {path}  ({os.path.getsize(path) / 1024:.1f} KiB, bits={BITS}, group_size={GS})")

    loaded = mx.load(path)
    base = GaugeNet()
    for name in LAYERS:
        w = gptq_dequantize_weight(loaded[f"{name}.qweight"], loaded[f"{name}.qzeros"],
                                   loaded[f"{name}.scales"], loaded[f"{name}.g_idx"], bits=BITS)
        lyr = getattr(base, name)
        lyr.weight = w
        if f"{name}.bias" in loaded:
            lyr.bias = loaded[f"{name}.bias"]
        err = float(mx.abs(w - getattr(model, name).weight).max())
        print(f"[reload] {name:5s} weight {tuple(w.shape)}  max|dequant - float| {err:.4f}")
    base.head.weight = loaded["head.weight"]
    base.head.bias = loaded["head.bias"]
    base.freeze()
    acc_q = accuracy(base, xav, yav)
    print(f"[reload] 4-bit base siteA val acc {acc_q:.3f}   (float {acc_float:.3f})")

    # ---- stage 3: LoRA adaptation to site B ----
    for name in ["l2", "head"]:
        setattr(base, name, LoRALinear(getattr(base, name)))
    for name in ["l2", "head"]:
        getattr(base, name).base.freeze()
    n_train = sum(v.size for _, v in tree_flatten(base.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(base.parameters()))
    print(f"[lora] trainable {n_train} / {n_all} params")
    print(f"[lora] siteB val acc before adaptation {accuracy(base, xbv, ybv):.3f}")
    opt = optim.Adam(learning_rate=3e-3)
    step = nn.value_and_grad(base, loss_fn)
    it = 0
    for epoch in range(1, 13):
        perm = mx.array(rng.permutation(xb.shape[0]))
        for i in range(0, xb.shape[0], 64):
            idx = perm[i:i + 64]
            loss, g = step(base, xb[idx], yb[idx])
            opt.update(base, g)
            mx.eval(base.trainable_parameters(), opt.state, loss)
            it += 1
            if it % 50 == 0:
                print(f"[lora] iter {it:4d}  loss {loss.item():.4f}")
        if epoch % 3 == 0:
            vl = loss_fn(base, xbv, ybv).item()
            print(f"[lora] epoch {epoch:2d}  siteB val loss {vl:.4f}  val acc {accuracy(base, xbv, ybv):.3f}")
    print(f"final: siteB val acc {accuracy(base, xbv, ybv):.3f}  siteA val acc {accuracy(base, xav, yav):.3f}  "
          f"({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
