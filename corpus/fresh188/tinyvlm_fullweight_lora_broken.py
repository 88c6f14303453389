# Tiny "VLM" fine-tune: a frozen-free vision tower + small language model answering
# questions about synthetic gauge images. Mirrors mlx_vlm/lora.py's main() flow.
import argparse
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
logger = logging.getLogger("vlm_lora")


class LoRaLayer(nn.Module):
    def __init__(self, linear, rank, alpha=0.1, dropout=0.0):
        super().__init__()
        self.original_layer = linear
        self.dropout = nn.Dropout(p=dropout)
        output_dims, input_dims = linear.weight.shape
        std_dev = 1 / math.sqrt(rank)
        self.A = mx.random.uniform(low=-std_dev, high=std_dev, shape=(input_dims, rank))
        self.B = mx.zeros((rank, output_dims))
        self.alpha = alpha

    def __call__(self, x):
        y = self.original_layer(x)
        lora_update = (self.dropout(x) @ self.A) @ self.B
        return y + (self.alpha * lora_update).astype(x.dtype)


class VisionModel(nn.Module):
    def __init__(self, d_in, d):
        super().__init__()
        self.patch = nn.Linear(d_in, d)
        self.proj = nn.Linear(d, d)

    def __call__(self, x):
        return self.proj(nn.gelu(self.patch(x)))


class LanguageModel(nn.Module):
    def __init__(self, vocab, d):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, d)
        self.up_proj = nn.Linear(2 * d, 4 * d)
        self.down_proj = nn.Linear(4 * d, d)
        self.o_proj = nn.Linear(d, d)
        self.lm_head = nn.Linear(d, vocab)

    def __call__(self, tok, img):
        h = mx.concatenate([self.embed_tokens(tok), img], axis=-1)
        h = self.down_proj(nn.gelu(self.up_proj(h)))
        h = h + self.o_proj(nn.gelu(h))
        return self.lm_head(h)


class Model(nn.Module):
    def __init__(self, d_img, vocab, d):
        super().__init__()
        self.vision_model = VisionModel(d_img, d)
        self.language_model = LanguageModel(vocab, d)

    def __call__(self, tok, pix):
        return self.language_model(tok, self.vision_model(pix))


def freeze_model(model):
    for name in ["language_model", "vision_model"]:
        model[name].freeze()


def find_all_linear_names(model):
    names = set()
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            names.add(name.split(".")[-1])
    names.discard("lm_head")
    return list(names)


def set_module_by_name(model, name, new_module):
    setattr(model, name, new_module)


def print_trainable_parameters(model):
    total = sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))
    train = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
    print(f"#trainable params: {train} || all params: {total} || trainable%: {100 * train / total:.3f}")


def get_peft_model(model, rank=10, alpha=0.1, dropout=0.1, freeze=True):
    linear_layers = find_all_linear_names(model.language_model)
    if freeze:
        freeze_model(model)
    for name, module in model.language_model.named_modules():
        if isinstance(module, nn.Linear) and name.split(".")[-1] in linear_layers:
            set_module_by_name(model.language_model, name, LoRaLayer(module, rank, alpha, dropout))
    print("Using LoRA training with the following parameters:")
    print(f"  Rank: {rank}")
    print(f"  Alpha: {alpha}")
    print(f"  Dropout: {dropout}")
    print_trainable_parameters(model.language_model)
    return model


def make_dataset(n, rng):
    # gauge images: 4 dial kinds x needle angle; question ids 0..2; answer vocab 16
    kind = rng.integers(0, 4, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    protos = np.random.default_rng(123).normal(0, 1, (4, 12)).astype(np.float32)
    pix = np.concatenate([protos[kind], np.stack([np.cos(angle), np.sin(angle),
                          np.cos(2 * angle), np.sin(2 * angle)], 1)], 1)
    pix = pix + rng.normal(0, 0.15, pix.shape)
    q = rng.integers(0, 3, n)
    octant = (angle / (2 * np.pi) * 8).astype(int) % 8
    ans = np.where(q == 0, 3 + kind, np.where(q == 1, 7 + octant, 3 + (kind + octant) % 4))
    return mx.array(q.astype(np.int32)), mx.array(pix.astype(np.float32)), mx.array(ans.astype(np.int32))


class Trainer:
    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer
        self.loss_and_grad = nn.value_and_grad(model, self.loss_fn)

    def loss_fn(self, model, q, pix, ans):
        return nn.losses.cross_entropy(model(q, pix), ans, reduction="mean")

    def train_step(self, batch):
        loss, grads = self.loss_and_grad(self.model, *batch)
        self.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.optimizer.state, loss)
        return loss


def main(args):
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    logger.info("Loading model")
    model = Model(16, 16, 48)
    mx.eval(model.parameters())
    q, pix, ans = make_dataset(args.n, rng)
    vq, vpix, vans = make_dataset(1000, np.random.default_rng(1))

    if args.full_weight_training:
        logger.info("Using full weight training (all parameters will be trained)")
        print_trainable_parameters(model.language_model)

    logger.info("Setting up LoRA")
    model = get_peft_model(model, rank=args.lora_rank, alpha=args.lora_alpha,
                           dropout=args.lora_dropout)

    logger.info("Setting up optimizer")
    optimizer = optim.Adam(learning_rate=args.learning_rate)
    trainer = Trainer(model, optimizer)
    model.train()

    logger.info("Training model")
    t0 = time.time()
    steps = args.n // args.batch_size
    for epoch in range(args.epochs):
        perm = mx.array(rng.permutation(args.n).astype(np.int32))
        for i in range(steps):
            idx = perm[i * args.batch_size:(i + 1) * args.batch_size]
            loss = trainer.train_step((q[idx], pix[idx], ans[idx]))
            if i % args.print_every == 0:
                print({"Epoch": epoch, "Step": i, "Loss": f"{loss.item():.4f}"})
        model.eval()
        logits = model(vq, vpix)
        vloss = nn.losses.cross_entropy(logits, vans, reduction="mean").item()
        vacc = (mx.argmax(logits, axis=-1) == vans).mean().item()
        model.train()
        print(f"epoch {epoch} | val_loss {vloss:.4f} | val_acc {100 * vacc:.1f}% | {time.time() - t0:.1f}s")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--full-weight-training", dest="full_weight_training", action="store_true", default=True)
    p.add_argument("--lora-rank", type=int, default=10)
    p.add_argument("--lora-alpha", type=float, default=0.1)
    p.add_argument("--lora-dropout", type=float, default=0.1)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--n", type=int, default=6400)
    p.add_argument("--print-every", type=int, default=25)
    main(p.parse_args())
