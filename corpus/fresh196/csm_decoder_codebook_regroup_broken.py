# Tiny CSM-style (backbone + depth decoder) finetune on synthetic RVQ audio frames.
# tokens: (batch, seq, n_codebooks) where the last column is the text token.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn.losses import cross_entropy

mx.random.seed(7)
N_AUDIO = 3            # audio codebooks
VOCAB = 16             # audio vocab per codebook
TEXT_VOCAB = 24
DIM = 48
SEQ = 17
BATCH = 4


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.RMSNorm(d)
        self.attn = nn.MultiHeadAttention(d, 4)
        self.norm2 = nn.RMSNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def __call__(self, x, mask):
        h = self.norm(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.norm2(x))


class TinyCSM(nn.Module):
    def __init__(self):
        super().__init__()
        self.n_audio_codebooks = N_AUDIO
        self.text_embeddings = nn.Embedding(TEXT_VOCAB, DIM)
        self.audio_embeddings = nn.Embedding(VOCAB * N_AUDIO, DIM)
        self.backbone_layers = [Block(DIM), Block(DIM)]
        self.decoder_layers = [Block(DIM)]
        self.projection = nn.Linear(DIM, DIM, bias=False)
        self.codebook0_head = nn.Linear(DIM, VOCAB, bias=False)
        self.audio_head = mx.random.normal((N_AUDIO - 1, DIM, VOCAB)) * 0.05

    def embed_audio(self, i, toks):
        return self.audio_embeddings(toks + i * VOCAB)

    def embed_tokens(self, tokens):
        text = self.text_embeddings(tokens[:, :, -1])[:, :, None, :]
        audio = mx.stack([self.embed_audio(i, tokens[:, :, i]) for i in range(N_AUDIO)], axis=-2)
        return mx.concatenate([audio, text], axis=-2)

    def backbone(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        for b in self.backbone_layers:
            x = b(x, mask)
        return x

    def decoder(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        for b in self.decoder_layers:
            x = b(x, mask)
        return x


def make_batch():
    # codebook 0 follows a walk driven by the text token; deeper codebooks are
    # deterministic functions of the shallower ones (residual structure)
    text = mx.random.randint(0, TEXT_VOCAB, (BATCH, SEQ))
    c0 = ((mx.cumsum(text, axis=1) - text) * 3) % VOCAB
    c1 = (c0 * 5 + 1) % VOCAB
    c2 = (c0 + c1 * 3) % VOCAB
    tokens = mx.stack([c0, c1, c2, text], axis=-1).astype(mx.int32)
    masks = mx.ones(tokens.shape)
    return tokens, masks


model = TinyCSM()


def compute_loss(model, tokens, masks):
    batch_size, seq_len, n_codebooks = tokens.shape
    audio_tokens = tokens[:, :, :-1]
    shifted_audio_tokens = audio_tokens[:, 1:, :]
    shifted_audio_masks = masks[:, 1:, :-1]

    backbone_embeds = model.embed_tokens(tokens)
    backbone_embeds = backbone_embeds * mx.expand_dims(masks, axis=-1)
    backbone_input = backbone_embeds.sum(-2)[:, :-1, :]
    backbone_hidden = model.backbone(backbone_input)
    c0_logits = model.codebook0_head(backbone_hidden)

    ci_stacked = mx.stack(
        [model.embed_audio(i, shifted_audio_tokens[:, :, i]) for i in range(model.n_audio_codebooks)],
        axis=-2,
    )
    decoder_inputs = mx.concat([mx.expand_dims(backbone_hidden, axis=-2), ci_stacked], axis=-2)

    decoder_inputs = decoder_inputs.reshape(
        -1, n_codebooks + 1, decoder_inputs.shape[-1]
    )
    decoder_hidden = model.decoder(model.projection(decoder_inputs))
    decoder_hidden = decoder_hidden.reshape(
        batch_size, seq_len - 1, n_codebooks + 1, -1
    )[:, :, 1:-1, :]

    c0_loss = cross_entropy(c0_logits.reshape(-1, VOCAB), shifted_audio_tokens[:, :, 0].reshape(-1), reduction="none")
    c0_loss = (c0_loss * shifted_audio_masks[:, :, 0].reshape(-1)).sum() / shifted_audio_masks[:, :, 0].sum()
    total = c0_loss / model.n_audio_codebooks
    for index in range(1, model.n_audio_codebooks):
        ci_logits = mx.matmul(decoder_hidden[:, :, index - 1, :], model.audio_head[index - 1])
        ci_loss = cross_entropy(ci_logits.reshape(-1, VOCAB), shifted_audio_tokens[:, :, index].reshape(-1), reduction="none")
        ci_loss = (ci_loss * shifted_audio_masks[:, :, index].reshape(-1)).sum() / shifted_audio_masks[:, :, index].sum()
        total = total + ci_loss / model.n_audio_codebooks
    return total


optimizer = optim.AdamW(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(model, compute_loss)

t0 = time.time()
for step in range(1, 301):
    tokens, masks = make_batch()
    loss, grads = loss_and_grad(model, tokens, masks)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    if step % 25 == 0 or step == 1:
        print(f"step {step:4d} | loss {loss.item():.4f} | lr {optimizer.learning_rate.item():.1e} | {time.time()-t0:.1f}s")
print("finetune done")
