"""Tiny CSM-style finetune: backbone predicts codebook 0 of the next audio frame,
a small depth decoder predicts codebooks 1..K-1 from the previous codebook."""
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn.losses import cross_entropy

V, K, D, SEQ, BATCH = 16, 4, 32, 12, 8   # vocab, audio codebooks, width, frames, batch
mx.random.seed(3)


class TinyCSM(nn.Module):
    def __init__(self):
        super().__init__()
        self.n_audio_codebooks = K
        self.tok = nn.Embedding((K + 1) * V, D)
        self.audio_emb = nn.Embedding(K * V, D)
        self.backbone = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, D))
        self.codebook0_head = nn.Linear(D, V)
        self.projection = nn.Linear(D, D)
        self.decoder = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, D))
        self.audio_head = mx.random.normal((K - 1, D, V)) * 0.1

    def embed_tokens(self, tokens):
        offsets = mx.arange(K + 1) * V
        return self.tok(tokens + offsets)            # (b, s, K+1, D)

    def embed_audio(self, i, t):
        return self.audio_emb(t + i * V)


def make_batch():
    c0 = mx.random.randint(0, V, (BATCH, 1))
    frames = [c0]
    for _ in range(SEQ - 1):
        nxt = (5 * frames[-1] + 3) % V
        noise = mx.random.randint(0, V, nxt.shape)
        frames.append(mx.where(mx.random.uniform(shape=nxt.shape) < 0.2, noise, nxt))
    c0 = mx.concatenate(frames, axis=1)                        # (b, s)
    cbs = [c0]
    for _ in range(K - 1):
        nxt = (cbs[-1] + 5) % V
        cbs.append(mx.where(mx.random.uniform(shape=nxt.shape) < 0.1, (nxt + 1) % V, nxt))
    text = mx.random.randint(0, V, (BATCH, SEQ))
    tokens = mx.stack(cbs + [text], axis=-1)                   # (b, s, K+1)
    lengths = mx.random.randint(SEQ - 3, SEQ + 1, (BATCH, 1))
    masks = (mx.arange(SEQ)[None, :] < lengths).astype(mx.float32)
    masks = mx.broadcast_to(masks[:, :, None], tokens.shape)
    return tokens, masks


def compute_loss(model, tokens, masks):
    audio_tokens = tokens[:, :, :-1]  # (batch, seq, codebook)
    shifted_audio_tokens = audio_tokens[:, 1:, :]  # (batch, seq - 1, codebook)
    audio_masks = masks[:, :, :-1]  # (batch, seq, codebook)
    shifted_audio_masks = masks[:, 1:, :]  # (batch, seq - 1, codebook)

    backbone_embeds = model.embed_tokens(tokens)
    backbone_embeds = backbone_embeds * mx.expand_dims(masks, axis=-1)
    backbone_input = backbone_embeds.sum(-2)
    backbone_input = backbone_input[:, :-1, :]  # (batch, seq - 1, embed_dim)

    backbone_hidden = model.backbone(backbone_input)  # (batch, seq - 1, embed_dim)

    c0_logits = model.codebook0_head(backbone_hidden)

    ci_stacked = mx.stack(
        [
            model.embed_audio(i, shifted_audio_tokens[:, :, i])
            for i in range(model.n_audio_codebooks)
        ],
        axis=-2,
    )  # (batch, seq - 1, codebook, embed_dim)
    decoder_inputs = mx.concat(
        [mx.expand_dims(backbone_hidden, axis=-2), ci_stacked], axis=-2
    )  # (batch, seq - 1, codebook + 1, embed_dim)

    b, s_minus_1, c_plus_1, h = decoder_inputs.shape
    decoder_inputs = decoder_inputs.reshape(-1, c_plus_1, h)
    decoder_hidden = model.decoder(model.projection(decoder_inputs))
    decoder_hidden = decoder_hidden.reshape(b, s_minus_1, c_plus_1, -1)[:, :, 1:-1, :]

    c0_loss = cross_entropy(
        c0_logits.reshape(-1, c0_logits.shape[-1]),
        shifted_audio_tokens[:, :, 0].reshape(-1),
        reduction="none",
    )
    c0_loss = (
        c0_loss * shifted_audio_masks[:, :, 0].reshape(-1)
    ).sum() / shifted_audio_masks[:, :, 0].sum()

    total_loss = c0_loss / model.n_audio_codebooks

    for index in range(1, model.n_audio_codebooks):
        ci_logits = mx.matmul(decoder_hidden[:, :, index - 1, :], model.audio_head[index - 1])
        ci_loss = cross_entropy(
            ci_logits.reshape(-1, ci_logits.shape[-1]),
            shifted_audio_tokens[:, :, index].reshape(-1),
            reduction="none",
        )
        ci_loss = (
            ci_loss * shifted_audio_masks[:, :, index].reshape(-1)
        ).sum() / shifted_audio_masks[:, :, index].sum()
        total_loss += ci_loss / model.n_audio_codebooks

    return total_loss


model = TinyCSM()
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, compute_loss)

tic = time.perf_counter()
for step in range(1, 241):
    tokens, masks = make_batch()
    loss, grads = loss_and_grad(model, tokens, masks)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    if step == 1 or step % 20 == 0:
        print(f"step {step:4d} | loss {loss.item():.4f} | {time.perf_counter() - tic:.1f}s")
print("done")
