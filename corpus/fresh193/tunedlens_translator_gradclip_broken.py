"""Train a tuned lens (one affine translator per layer) on a small frozen
residual network, following the train_tuned_lens recipe: KL(final || lens),
SGD with momentum, linear LR decay, global-norm gradient clipping."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
VOCAB, DIM, NLAYERS, SEQ = 48, 32, 4, 24


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.RMSNorm(d)
        self.up = nn.Linear(d, 2 * d)
        self.down = nn.Linear(2 * d, d)

    def __call__(self, x):
        return x + self.down(nn.gelu(self.up(self.norm(x))))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.layers = [Block(DIM) for _ in range(NLAYERS)]
        self.norm = nn.RMSNorm(DIM)

    def __call__(self, toks):
        h = self.embed(toks)
        hidden = []
        for blk in self.layers:
            h = blk(h)
            hidden.append(h)
        return self.embed.as_linear(self.norm(h)), hidden


class TunedLens(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.translators = [nn.Linear(d, d) for _ in range(n)]
        for t in self.translators:
            t.weight = mx.eye(d)
            t.bias = mx.zeros((d,))

    def __call__(self, h, i):
        return self.translators[i](h)


model = TinyLM()
model.freeze()
model.eval()
mx.eval(model.parameters())

# a token stream with a little structure (bigram-ish)
stream = []
tok = 0
for i in range(4000):
    tok = (tok * 7 + 3 + (i % 5)) % VOCAB
    stream.append(tok)

lens = TunedLens(NLAYERS, DIM)
learning_rate, num_steps, gradient_clip = 0.5, 150, 1.0
optimizer = optim.SGD(learning_rate=learning_rate, momentum=0.9)


def compute_loss(params, hidden, target_logits):
    lens.update(params)
    tgt = nn.log_softmax(target_logits, axis=-1)
    total = mx.array(0.0)
    for i, h in enumerate(hidden):
        pred = nn.log_softmax(model.embed.as_linear(model.norm(lens(h, i))), axis=-1)
        total = total + mx.sum(mx.exp(tgt) * (tgt - pred), axis=-1).mean()
    return total / len(hidden)


pos = 0
for step in range(num_steps):
    chunk = mx.array([stream[pos:pos + SEQ]])
    pos = (pos + SEQ) % (len(stream) - SEQ)
    target_logits, hidden = model(chunk)

    loss_fn = lambda p: compute_loss(p, hidden, target_logits)
    loss, grads = mx.value_and_grad(loss_fn)(lens.parameters())

    # Gradient clipping
    grad_norm = mx.sqrt(sum(mx.sum(g * g) for g in mx.utils.tree_flatten(grads)[0]))
    if grad_norm > gradient_clip:
        scale = gradient_clip / (grad_norm + 1e-6)
        grads = mx.utils.tree_map(lambda g: g * scale, grads)

    current_lr = learning_rate * (1 - step / num_steps)
    optimizer.learning_rate = current_lr
    optimizer.update(lens, grads)
    mx.eval(lens.parameters(), optimizer.state, loss)

    if step % 10 == 0:
        print(f"Step {step}/{num_steps}, Loss: {loss.item():.4f}, LR: {current_lr:.4f}, |g|: {grad_norm.item():.3f}")

print(f"Training complete. Final loss: {loss.item():.4f}")
