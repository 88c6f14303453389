# Tiny llama-style attention block, hand-written with a weights dict
# (no nn.MultiHeadAttention), trained on a pointer-recall task:
# the sequence is t0 t1 ... t11 P and the model must emit t_p, where the
# last token P is a pointer token naming position p.
import time
import mlx.core as mx
import mlx.optimizers as optim

mx.random.seed(3)
VOCAB_V = 16          # content tokens 0..15
PAIRS = 12            # number of content positions
VOCAB = VOCAB_V + PAIRS  # + one pointer token per position
SEQ = PAIRS + 1
EMB = 32
NUM_HEADS = 1
ATTN_DIM = 64
LAYERS = 1


def make_batch(bs):
    seq = mx.random.randint(0, VOCAB_V, (bs, PAIRS))
    pick = mx.random.randint(0, PAIRS, (bs,))
    target = mx.take_along_axis(seq, pick[:, None], axis=1)[:, 0]
    return mx.concatenate([seq, (pick + VOCAB_V)[:, None]], axis=1), target


def init_weights():
    s = 0.02
    w = {
        "tok_emb": mx.random.normal((VOCAB, EMB)) * s,
        "pos_emb": mx.random.normal((SEQ, EMB)) * s,
    }
    for l in range(LAYERS):
        w[f"layers.{l}.wq"] = mx.random.normal((NUM_HEADS * ATTN_DIM, EMB)) * (EMB ** -0.5)
        w[f"layers.{l}.wk"] = mx.random.normal((NUM_HEADS * ATTN_DIM, EMB)) * (EMB ** -0.5)
        w[f"layers.{l}.wv"] = mx.random.normal((NUM_HEADS * ATTN_DIM, EMB)) * (EMB ** -0.5)
        w[f"layers.{l}.wo"] = mx.random.normal((EMB, NUM_HEADS * ATTN_DIM)) * (EMB ** -0.5)
        w[f"layers.{l}.norm"] = mx.ones((EMB,))
    w["out_norm"] = mx.ones((EMB,))
    w["head"] = mx.random.normal((VOCAB_V, EMB)) * (EMB ** -0.5)
    return w


def rms_norm(x, g, eps=1e-5):
    return x * mx.rsqrt(mx.mean(x * x, axis=-1, keepdims=True) + eps) * g


def create_causal_mask(n):
    idx = mx.arange(n)
    return mx.where(idx[:, None] >= idx[None, :], 0.0, -1e9)


def self_attn(x, mask, W_Q, W_K, W_V, W_O):
    bsz, seq_len, _ = x.shape
    Q = mx.matmul(x, W_Q.T).reshape(bsz, seq_len, NUM_HEADS, ATTN_DIM).transpose(0, 2, 1, 3)
    K = mx.matmul(x, W_K.T).reshape(bsz, seq_len, NUM_HEADS, ATTN_DIM).transpose(0, 2, 1, 3)
    V = mx.matmul(x, W_V.T).reshape(bsz, seq_len, NUM_HEADS, ATTN_DIM).transpose(0, 2, 1, 3)
    attn_score = mx.matmul(Q, K.transpose(0, 1, 3, 2)
                           ) / (ATTN_DIM ** -0.5)
    attn_score = mx.softmax(attn_score + mask, axis=-1)
    out = mx.matmul(attn_score, V).transpose(0, 2, 1, 3).reshape(bsz, seq_len, -1)
    return mx.matmul(out, W_O.T)


def forward(w, tokens):
    n = tokens.shape[1]
    h = w["tok_emb"][tokens] + w["pos_emb"][:n]
    mask = create_causal_mask(n)
    for l in range(LAYERS):
        h = h + self_attn(rms_norm(h, w[f"layers.{l}.norm"]), mask,
                          w[f"layers.{l}.wq"], w[f"layers.{l}.wk"],
                          w[f"layers.{l}.wv"], w[f"layers.{l}.wo"])
    h = rms_norm(h[:, -1], w["out_norm"])
    return mx.matmul(h, w["head"].T)


def loss_fn(w, tokens, target):
    logits = forward(w, tokens)
    lse = mx.logsumexp(logits, axis=-1)
    picked = mx.take_along_axis(logits, target[:, None], axis=-1)[:, 0]
    return mx.mean(lse - picked)


weights = init_weights()
opt = optim.Adam(learning_rate=1e-3)
grad_fn = mx.value_and_grad(loss_fn)
val_x, val_y = make_batch(512)

t0 = time.time()
STEPS = 600
for step in range(1, STEPS + 1):
    x, y = make_batch(64)
    loss, grads = grad_fn(weights, x, y)
    opt.update(weights, grads)
    mx.eval(weights, opt.state, loss)
    if step % 60 == 0:
        acc = mx.mean(mx.argmax(forward(weights, val_x), axis=-1) == val_y).item()
        print(f"step {step:5d}  loss {loss.item():.4f}  recall_acc {acc*100:5.1f}%  ({time.time()-t0:.1f}s)")

acc = mx.mean(mx.argmax(forward(weights, val_x), axis=-1) == val_y).item()
print(f"final recall accuracy: {acc*100:.1f}% (chance {100/VOCAB_V:.1f}%)")
