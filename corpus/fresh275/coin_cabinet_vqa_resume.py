"""Coin-cabinet tray photos -> short VQA answers ("which metal?", "which mint?",
"which era?"). Tiny VLM where the patch tower AND the 2-block text stack are
frozen on purpose (a stand-in for pretrained parts); only the projector and
the answer head train. Tower features are computed once and cached.
Adam with linear warm-up from exactly 0, cosine decay, 2 micro-batches per
update, 10% label noise (loss floor > 0), checkpoint at update 150 and resume
into a freshly built model + optimizer."""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
N_PATCH, PATCH_DIM, VIS_DIM, D, HEADS = 5, 12, 24, 32, 4
N_METAL, N_MINT, N_ERA = 3, 4, 3
# tokens: 0 <ask_metal>, 1 <ask_mint>, 2 <ask_era>, 3 <sep>, then answers
A_METAL, A_MINT, A_ERA = 4, 4 + N_METAL, 4 + N_METAL + N_MINT
VOCAB = A_ERA + N_ERA
UPDATES, ACCUM, BS, CKPT_AT = 300, 2, 32, 150

rng = np.random.default_rng(SEED)
P_METAL = rng.normal(size=(N_METAL, PATCH_DIM))
P_MINT = rng.normal(size=(N_MINT, PATCH_DIM))
P_ERA = rng.normal(size=(N_ERA, PATCH_DIM))


def make_split(n, label_noise=0.10):
    metal, mint, era = (rng.integers(0, k, n) for k in (N_METAL, N_MINT, N_ERA))
    pix = rng.normal(scale=1.0, size=(n, N_PATCH, PATCH_DIM))
    pix[:, 0:2] += P_METAL[metal][:, None]      # rim/colour patches
    pix[:, 2:4] += P_MINT[mint][:, None]        # mint mark patches
    pix[:, 4] += P_ERA[era]                     # portrait style patch
    ask = rng.integers(0, 3, n)
    ans = np.select([ask == 0, ask == 1], [A_METAL + metal, A_MINT + mint], A_ERA + era)
    # catalogue slips with a mis-typed answer (same question type)
    flip = rng.random(n) < label_noise
    span = np.select([ask == 0, ask == 1], [N_METAL, N_MINT], N_ERA)
    base = np.select([ask == 0, ask == 1], [A_METAL, A_MINT], A_ERA)
    ans = np.where(flip, base + rng.integers(0, 1000, n) % span, ans)
    ids = np.stack([ask, np.full(n, 3)], axis=1)
    return (mx.array(pix.astype(np.float32)), mx.array(ids.astype(np.int32)),
            mx.array(ans.astype(np.int32)), ask)


class PatchTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(PATCH_DIM, VIS_DIM)
        self.fc2 = nn.Linear(VIS_DIM, VIS_DIM)

    def __call__(self, x):
        return self.fc2(nn.gelu(self.fc1(x)))


class TinyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.projector = nn.Sequential(nn.Linear(VIS_DIM, D), nn.GELU(), nn.Linear(D, D))
        self.embed = nn.Embedding(VOCAB, D)
        self.blocks = [nn.TransformerEncoderLayer(D, HEADS, mlp_dims=2 * D, norm_first=True)
                       for _ in range(2)]
        self.norm = nn.LayerNorm(D)
        self.answer_head = nn.Linear(D, VOCAB)

    def __call__(self, feats, ids):
        h = mx.concatenate([self.projector(feats), self.embed(ids)], axis=1)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(h.shape[1])
        for b in self.blocks:
            h = b(h, mask)
        return self.answer_head(self.norm(h[:, -1]))


def build(seed):
    mx.random.seed(seed)
    tower, model = PatchTower(), TinyVLM()
    tower.freeze()
    model.freeze()
    model.projector.unfreeze()
    model.answer_head.unfreeze()
    mx.eval(tower.parameters(), model.parameters())
    return tower, model


def make_opt():
    warm = optim.linear_schedule(0.0, 3e-3, 30)
    decay = optim.cosine_decay(3e-3, UPDATES - 30, end=3e-4)
    return optim.Adam(learning_rate=optim.join_schedules([warm, decay], [30]))


def loss_fn(model, feats, ids, ans):
    return nn.losses.cross_entropy(model(feats, ids), ans, reduction="mean")


def evaluate(model, feats, ids, ans, ask):
    pred = np.array(mx.argmax(model(feats, ids), axis=-1))
    a = np.array(ans)
    return float((pred == a).mean()), {q: float((pred[ask == q] == a[ask == q]).mean()) for q in range(3)}


def train_span(model, opt, feats, ids, ans, start, stop, t0):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = feats.shape[0]
    for upd in range(start, stop):
        acc, tot = None, 0.0
        for _ in range(ACCUM):
            idx = mx.array(rng.integers(0, n, BS))
            loss, g = step_fn(model, feats[idx], ids[idx], ans[idx])
            acc = g if acc is None else nn.utils.tree_map(lambda a, b: a + b, acc, g)
            mx.eval(acc, loss)
            tot += loss.item()
        acc = nn.utils.tree_map(lambda a: a / ACCUM, acc)
        lr_now = opt.learning_rate.item()
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state)
        if upd == 0 or (upd + 1) % 20 == 0:
            print(f"update {upd + 1:4d}  lr {lr_now:.2e}  train_loss {tot / ACCUM:.4f}  "
                  f"{time.time() - t0:.1f}s")


def main():
    t0 = time.time()
    tower, model = build(SEED)
    tr_pix, tr_ids, tr_ans, _ = make_split(3000)
    va_pix, va_ids, va_ans, va_ask = make_split(600, label_noise=0.0)
    tr_feats = tower(tr_pix)            # tower is frozen: cache once
    va_feats = tower(va_pix)
    mx.eval(tr_feats, va_feats)

    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"trainable {n_tr} of {n_all} params (blocks, embed, norm, tower frozen)")
    chance = {0: 1 / N_METAL, 1: 1 / N_MINT, 2: 1 / N_ERA}
    print("question-only baseline accuracy per type:",
          {k: round(v, 3) for k, v in chance.items()},
          f"mean {np.mean([chance[q] for q in va_ask]):.3f}")
    floor = -(0.9 + 0.1 / 3.5) * np.log(0.9 + 0.1 / 3.5) - 0.1 * (1 - 1 / 3.5) * np.log(0.1 / 3.5)
    print(f"approx loss floor from 10% label noise: {floor:.3f}")
    frozen0 = {k: np.array(v) for k, v in tree_flatten(model.blocks)}

    opt = make_opt()
    train_span(model, opt, tr_feats, tr_ids, tr_ans, 0, CKPT_AT, t0)

    probe = (va_feats[:64], va_ids[:64], va_ans[:64])
    before = loss_fn(model, *probe).item()
    tmp = tempfile.TemporaryDirectory(prefix="coin_ckpt_")
    ck = tmp.name
    mx.save_safetensors(os.path.join(ck, "model.safetensors"), dict(tree_flatten(model.parameters())))
    mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint at update {CKPT_AT} -> {ck}  probe_loss {before:.4f}")

    # resume: fresh objects, different init seed, everything comes from disk
    _, model = build(SEED + 99)
    model.load_weights(os.path.join(ck, "model.safetensors"))
    model.freeze()
    model.projector.unfreeze()
    model.answer_head.unfreeze()
    opt = make_opt()
    opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
    after = loss_fn(model, *probe).item()
    print(f"resumed at optimizer step {opt.step.item()}  probe_loss {after:.4f}  "
          f"lr {opt.learning_rate.item():.2e}")
    train_span(model, opt, tr_feats, tr_ids, tr_ans, CKPT_AT, UPDATES, t0)
    tmp.cleanup()

    acc, per = evaluate(model, va_feats, va_ids, va_ans, va_ask)
    print(f"val accuracy {acc:.3f}  per type {{metal {per[0]:.3f}, mint {per[1]:.3f}, era {per[2]:.3f}}}")
    drift = max(float(np.abs(np.array(v) - frozen0[k]).max()) for k, v in tree_flatten(model.blocks))
    print(f"frozen text blocks max |change|: {drift:.1e}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
