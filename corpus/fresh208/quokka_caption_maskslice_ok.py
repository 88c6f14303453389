# Tiny "vision-language" captioner: a patch vector is prepended as a prefix token,
# then a causal transformer predicts caption tokens. Batches are right-padded and
# carry an attention_mask; positions are derived from the mask (cumsum), as in
# Qwen-VL style rope position computation.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
VOCAB, DIM, MAXLEN, PAD = 24, 48, 14, 0

def make_batch(bs):
    # captions: arithmetic runs "start, start+step, ..." of random length, right-padded
    starts = mx.random.randint(1, 8, (bs,))
    steps = mx.random.randint(1, 3, (bs,))
    lens = mx.random.randint(7, MAXLEN + 1, (bs,))
    pos = mx.arange(MAXLEN)[None, :]
    toks = starts[:, None] + steps[:, None] * pos
    toks = mx.clip(toks, 1, VOCAB - 1)
    attn = (pos < lens[:, None]).astype(mx.int32)
    ids = mx.where(attn > 0, toks, PAD)
    img = mx.concatenate([starts[:, None].astype(mx.float32) / 8.0,
                          steps[:, None].astype(mx.float32) / 2.0,
                          mx.random.normal((bs, 6)) * 0.1], axis=1)
    return {"input_ids": ids, "attention_mask": attn, "pixel_values": img}

class TinyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(MAXLEN + 2, DIM)
        self.vis = nn.Linear(8, DIM)
        self.blocks = [nn.TransformerEncoderLayer(DIM, 4, 96) for _ in range(2)]
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, input_ids, pixel_values, attention_mask):
        position_ids = mx.cumsum(attention_mask, axis=1) - 1
        position_ids = mx.maximum(position_ids, 0)
        h = self.tok(input_ids) + self.pos(position_ids + 1)
        v = self.vis(pixel_values)[:, None, :] + self.pos(mx.zeros((1, 1), dtype=mx.int32))
        h = mx.concatenate([v, h], axis=1)
        L = h.shape[1]
        causal = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for blk in self.blocks:
            h = blk(h, causal)
        return self.head(self.norm(h))[:, 1:, :]

def loss_fn(model, batch):
    input_ids = batch["input_ids"][:, :-1]
    targets = batch["input_ids"][:, 1:]
    attention_mask = batch["attention_mask"][:, :-1]
    logits = model(input_ids, batch["pixel_values"], attention_mask)
    tmask = batch["attention_mask"][:, 1:].astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets) * tmask
    ntok = tmask.sum()
    acc = ((logits.argmax(-1) == targets).astype(mx.float32) * tmask).sum() / ntok
    return ce.sum() / ntok, acc

model = TinyVLM()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
print("lora-style sft | model=TinyVLM | seq=%d | vocab=%d" % (MAXLEN, VOCAB))
for it in range(1, 161):
    batch = make_batch(32)
    (loss, acc), grads = step_fn(model, batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, acc)
    if it % 20 == 0 or it == 1:
        print(f"Iter {it}: Train loss {loss.item():.3f}, tok-acc {acc.item()*100:.1f}%, "
              f"It/sec {it/(time.time()-t0):.1f}")
val = make_batch(128)
vl, va = loss_fn(model, val)
print(f"Val loss {vl.item():.3f}, Val tok-acc {va.item()*100:.1f}%")
