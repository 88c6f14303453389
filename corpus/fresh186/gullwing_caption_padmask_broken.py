# Tiny "VLM" caption fine-tune: an image feature + <image> placeholder + caption tokens.
# Batches come from a collator that right-pads input_ids and copies them into labels,
# and reports an attention_mask for the real (non-pad) positions.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAD, BOS, IMG = 0, 1, 2
VOCAB = 40
MAX_LEN = 64
N_CLASSES = 12
FEAT = 16

mx.random.seed(7)
# class -> caption (length 3..7, tokens in 3..VOCAB-1)
_lens = mx.random.randint(3, 8, (N_CLASSES,)).tolist()
_toks = mx.random.randint(3, VOCAB, (N_CLASSES, 7)).tolist()
CAPTIONS = [_toks[c][: _lens[c]] for c in range(N_CLASSES)]
PROTOS = mx.random.normal((N_CLASSES, FEAT))


def collate(classes, key):
    feats = PROTOS[mx.array(classes)] + 0.3 * mx.random.normal((len(classes), FEAT), key=key)
    ids, att = [], []
    for c in classes:
        seq = [IMG, BOS] + CAPTIONS[c]
        ids.append(seq + [PAD] * (MAX_LEN - len(seq)))
        att.append([1] * len(seq) + [0] * (MAX_LEN - len(seq)))
    ids = mx.array(ids)
    return {"pixel_values": feats, "input_ids": ids, "labels": ids,
            "attention_mask": mx.array(att)}


class TinyCaptioner(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.vision_proj = nn.Linear(FEAT, dim)
        self.embed = nn.Embedding(VOCAB, dim)
        self.pos = nn.Embedding(MAX_LEN, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 128), nn.GELU(), nn.Linear(128, dim))
        self.lm_head = nn.Linear(dim, VOCAB)

    def __call__(self, pixel_values, input_ids):
        img = self.vision_proj(pixel_values)[:, None, :]
        h = self.embed(input_ids) + self.pos(mx.arange(input_ids.shape[1]))[None] + img
        h = h + self.mlp(h)
        return self.lm_head(h)


def mask_image_tokens(targets):
    return mx.where(targets == IMG, -100, targets)


def baseline_loss(model, batch):
    logits = model(batch["pixel_values"], batch["input_ids"])[:, :-1]
    targets = batch["labels"][:, 1:]
    targets = mask_image_tokens(targets)
    attention_mask = batch["attention_mask"]
    mask = (targets != -100).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, mx.maximum(targets, 0), reduction="none")
    return (ce * mask).sum() / mask.sum()


def caption_metrics(model, batch):
    logits = model(batch["pixel_values"], batch["input_ids"])[:, :-1]
    targets = batch["labels"][:, 1:]
    real = mx.logical_and(batch["attention_mask"][:, 1:] > 0, targets != IMG)
    pred = logits.argmax(-1)
    tok_acc = ((pred == targets) & real).sum() / real.sum()
    seq_ok = mx.all(mx.logical_or(pred == targets, ~real), axis=1).mean()
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    nll = (ce * real).sum() / real.sum()
    return nll.item(), tok_acc.item(), seq_ok.item()


model = TinyCaptioner()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.1, momentum=0.9)
loss_and_grad = nn.value_and_grad(model, baseline_loss)

val_batch = collate([c % N_CLASSES for c in range(96)], mx.random.key(999))
key = mx.random.key(0)
STEPS, BS = 150, 32
t0 = time.time()
for step in range(1, STEPS + 1):
    key, k1, k2 = mx.random.split(key, 3)
    classes = mx.random.randint(0, N_CLASSES, (BS,), key=k1).tolist()
    batch = collate(classes, k2)
    loss, grads = loss_and_grad(model, batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 15 == 0 or step == 1:
        nll, acc, seq = caption_metrics(model, val_batch)
        print(f"it {step:4d}/{STEPS} | train_loss {loss.item():.4f} | val_caption_nll {nll:.4f} "
              f"| val_tok_acc {100*acc:5.1f}% | exact_caption {100*seq:5.1f}% | {time.time()-t0:5.1f}s",
              flush=True)

nll, acc, seq = caption_metrics(model, val_batch)
print(f"done: val_caption_nll={nll:.4f} val_tok_acc={100*acc:.1f}% exact_caption={100*seq:.1f}%")
