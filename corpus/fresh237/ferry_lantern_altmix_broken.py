"""Tiny Gemma-3n-style language model with AltUp streams, trained on a
synthetic "ferry timetable" token language.

Each sequence is a list of departures: a harbour token followed by its
departure-slot token, which is constant per harbour, so every slot token is
predictable from the harbour just before it.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class Cfg:
    vocab = 24
    hidden = 32
    layers = 2
    heads = 2
    altup_num_inputs = 3
    altup_active_idx = 0
    seq = 16
    batch = 8
    steps = 200
    lr = 3e-3


class AltUp(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        n, h = cfg.altup_num_inputs, cfg.hidden
        self.correct_output_scale = mx.zeros((h,))
        self.correction_coefs = nn.Linear(n, n, bias=False)
        self.prediction_coefs = nn.Linear(n, n * n, bias=False)
        self.modality_router = nn.Linear(h, n, bias=False)
        self.router_norm = nn.RMSNorm(h)

    def compute_router_modalities(self, x):
        router_inputs = self.router_norm(x) * (self.config.hidden ** -1.0)
        routed = self.modality_router(router_inputs)
        return mx.tanh(routed.astype(mx.float32)).astype(x.dtype)

    def predict(self, x):
        n = self.config.altup_num_inputs
        modalities = self.compute_router_modalities(x[self.config.altup_active_idx])
        all_coefs = self.prediction_coefs(modalities)
        all_coefs = all_coefs.reshape(*modalities.shape[:-1], n, n).transpose(0, 1, 3, 2)
        x_permuted = x.transpose(1, 2, 3, 0)
        predictions = mx.matmul(x_permuted, all_coefs)
        predictions = predictions.transpose(3, 0, 1, 2)
        predictions += x
        return predictions.astype(x.dtype)

    def correct(self, predictions, activated):
        modalities = self.compute_router_modalities(activated)
        all_coefs = self.correction_coefs(modalities) + 1.0

        active_x = predictions[self.config.altup_active_idx]
        innovation = activated - active_x

        all_coefs = all_coefs.transpose(2, 1, 0)
        corrected = innovation[None] * all_coefs[:, None]
        corrected += predictions

        return corrected.astype(activated.dtype)

    def scale_corrected_output(self, corrected):
        return corrected * (1.0 + self.correct_output_scale)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.altup = AltUp(cfg)
        self.norm1 = nn.RMSNorm(cfg.hidden)
        self.attn = nn.MultiHeadAttention(cfg.hidden, cfg.heads)
        self.norm2 = nn.RMSNorm(cfg.hidden)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.hidden, 4 * cfg.hidden), nn.GELU(), nn.Linear(4 * cfg.hidden, cfg.hidden)
        )

    def __call__(self, streams, mask):
        predictions = self.altup.predict(streams)
        active = predictions[self.altup.config.altup_active_idx]
        h = self.norm1(active)
        active = active + self.attn(h, h, h, mask)
        active = active + self.mlp(self.norm2(active))
        corrected = self.altup.correct(predictions, active)
        first = self.altup.scale_corrected_output(corrected[0])
        return mx.concatenate([first[None], corrected[1:]], axis=0)


class TinyLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.hidden)
        self.stream_proj = [
            nn.Linear(cfg.hidden, cfg.hidden, bias=False) for _ in range(cfg.altup_num_inputs - 1)
        ]
        self.blocks = [Block(cfg) for _ in range(cfg.layers)]
        self.norm = nn.RMSNorm(cfg.hidden)
        self.head = nn.Linear(cfg.hidden, cfg.vocab, bias=False)

    def __call__(self, tokens):
        x0 = self.embed(tokens)
        streams = mx.stack([x0] + [p(x0) for p in self.stream_proj], axis=0)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(tokens.shape[1])
        for blk in self.blocks:
            streams = blk(streams, mask)
        return self.head(self.norm(streams.mean(axis=0)))


SLOTS = np.array([11, 3, 14, 7, 0, 9, 15, 5])


def make_batch(rng, cfg):
    harbours = rng.integers(0, 8, size=(cfg.batch, cfg.seq // 2))
    times = SLOTS[harbours]
    seq = np.empty((cfg.batch, cfg.seq), dtype=np.int32)
    seq[:, 0::2] = harbours
    seq[:, 1::2] = 8 + times
    return mx.array(seq)


def loss_fn(model, tokens):
    logits = model(tokens[:, :-1])
    targets = tokens[:, 1:]
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    # only the time tokens are predictable
    w = (targets >= 8).astype(mx.float32)
    return (ce * w).sum() / w.sum()


def main():
    cfg = Cfg()
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    model = TinyLM(cfg)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
    print(f"model: {cfg.layers} blocks, altup streams={cfg.altup_num_inputs}, params={n_params}")

    opt = optim.AdamW(learning_rate=cfg.lr, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    val = make_batch(np.random.default_rng(123), cfg)

    t0 = time.time()
    for step in range(1, cfg.steps + 1):
        tokens = make_batch(rng, cfg)
        loss, grads = step_fn(model, tokens)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step == 1:
            vloss = loss_fn(model, val).item()
            print(f"step {step:4d}  train_loss {loss.item():.4f}  val_loss {vloss:.4f}  ({time.time() - t0:.1f}s)")

    logits = model(val[:, :-1])
    pred = mx.argmax(logits, axis=-1)
    tgt = val[:, 1:]
    w = tgt >= 8
    acc = ((pred == tgt) & w).sum().item() / w.sum().item()
    print(f"final val time-token accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
