# Mini LLaMA (RoPE + RMSNorm + SwiGLU) trained on a repeat-the-sequence task.
from dataclasses import dataclass, asdict
import time

import mlx.core as mx
import mlx.optimizers as optim
from mlx import nn
from mlx.nn import MultiHeadAttention as MHA
from mlx.core.fast import scaled_dot_product_attention


@dataclass
class LLaMAConfig:
    n_layers: int = 2
    vocab_size: int = 16
    d_embd: int = 32
    n_heads: int = 2
    seq_len: int = 16
    rope_theta: float = 1e4
    rope_scale: float = 1.0
    ffn_mult: int = 16
    norm_eps: float = 1e-5


@dataclass
class TrainerConfig:
    bsz: int = 16
    lr: float = 3e-3
    n_steps: int = 300
    warmup_steps: int = 30


class SelfAttention(nn.Module):
    def __init__(self, d_embd, n_heads, rope_theta, rope_scale, **kwargs):
        super().__init__()
        assert d_embd % n_heads == 0
        self.d_head = d_embd // n_heads

        self.attn_proj = nn.Linear(d_embd, 3*d_embd, bias=False)
        self.rope = nn.RoPE(self.d_head, base=rope_theta, scale=rope_scale)
        self.scale = self.d_head ** -0.5
        self.out_proj = nn.Linear(d_embd, d_embd, bias=False)

    def __call__(self, x_BTD, mask_TT):
        B, T, D = x_BTD.shape
        to_attn_heads = lambda z: z.reshape(B, T, -1, self.d_head).transpose(0, 2, 1, 3)

        qkv_BTD = self.attn_proj(x_BTD).split(3, axis=-1)
        Q_BNTH, K_BNTH, V_BNTH = map(to_attn_heads, qkv_BTD)
        Q_BNTH, K_BNTH = self.rope(Q_BNTH), self.rope(K_BNTH)
        O_BNTH = scaled_dot_product_attention(Q_BNTH, K_BNTH, V_BNTH, scale=self.scale, mask=mask_TT)
        return self.out_proj(O_BNTH.transpose(0, 2, 1, 3).reshape(B, T, D))

    def init_params(self, cfg):
        self.attn_proj.apply(nn.init.normal(0.0, cfg.d_embd**-0.5))
        self.out_proj.apply(nn.init.normal(0.0, cfg.d_embd**-0.5))


class FeedForwardNet(nn.Module):
    def __init__(self, d_embd, ffn_mult, **kwargs):
        super().__init__()
        hidden_dim = int((4 * d_embd) * 2 / 3)
        self.hidden_dim = ffn_mult * ((hidden_dim + ffn_mult - 1) // ffn_mult)
        self.gate_proj = nn.Linear(d_embd, self.hidden_dim, bias=False)
        self.up_proj = nn.Linear(d_embd, self.hidden_dim, bias=False)
        self.down_proj = nn.Linear(self.hidden_dim, d_embd, bias=False)

    def __call__(self, x_BTD):
        return self.down_proj(nn.silu(self.gate_proj(x_BTD)) * self.up_proj(x_BTD))

    def init_params(self, cfg):
        self.gate_proj.apply(nn.init.normal(0.0, cfg.d_embd**-0.5))
        self.up_proj.apply(nn.init.normal(0.0, cfg.d_embd**-0.5))
        self.down_proj.apply(nn.init.normal(0.0, self.hidden_dim**-0.5))


class TransformerBlock(nn.Module):
    def __init__(self, d_embd, norm_eps, **kwargs):
        super().__init__()
        self.pre_norm = nn.RMSNorm(d_embd, norm_eps)
        self.attn = SelfAttention(d_embd=d_embd, **kwargs)
        self.ffn_norm = nn.RMSNorm(d_embd, norm_eps)
        self.ffn = FeedForwardNet(d_embd=d_embd, **kwargs)

    def __call__(self, x_BTD, mask_TT):
        h_BTD = x_BTD + self.attn(self.pre_norm(x_BTD), mask_TT)
        return h_BTD + self.ffn(self.ffn_norm(h_BTD))

    def init_params(self, cfg):
        self.pre_norm.apply(nn.init.constant(1.0))
        self.attn.init_params(cfg)
        self.ffn_norm.apply(nn.init.constant(1.0))
        self.ffn.init_params(cfg)


class LLaMA(nn.Module):
    def __init__(self, vocab_size, n_layers, d_embd, norm_eps, **kwargs):
        super().__init__()
        self.embd_toks = nn.Embedding(vocab_size, d_embd)
        self.layers = [TransformerBlock(d_embd=d_embd, norm_eps=norm_eps, **kwargs)
                       for _ in range(n_layers)]
        self.out_norm = nn.RMSNorm(d_embd, norm_eps)
        self.lm_head = nn.Linear(d_embd, vocab_size, bias=False)

    def __call__(self, tok_idxs_BT):
        h_BTD = self.embd_toks(tok_idxs_BT)
        causal_mask_TT = MHA.create_additive_causal_mask(h_BTD.shape[1])
        for layer in self.layers:
            h_BTD = layer(h_BTD, causal_mask_TT)
        return self.lm_head(self.out_norm(h_BTD))

    def init_params(self, cfg):
        self.embd_toks.apply(nn.init.normal(0.0, 1.0))
        for layer in self.layers:
            layer.init_params(cfg)
        self.out_norm.apply(nn.init.constant(1.0))
        self.lm_head.apply(nn.init.normal(0.0, cfg.d_embd**-0.5))


def build_lr_schedule(cfg_t):
    warmup = optim.schedulers.linear_schedule(0.0, cfg_t.lr, cfg_t.warmup_steps)
    decay = optim.cosine_decay(cfg_t.lr, cfg_t.n_steps - cfg_t.warmup_steps)
    return optim.join_schedules([warmup, decay], [cfg_t.warmup_steps])


def make_batch(cfg_m, bsz):
    half = cfg_m.seq_len // 2 + 1
    lead = mx.random.randint(0, cfg_m.vocab_size, shape=[bsz, half])
    seq = mx.concatenate([lead, lead], axis=1)
    return seq[:, :cfg_m.seq_len], seq[:, 1:cfg_m.seq_len + 1]


def train():
    mx.random.seed(3985)
    cfg_t = TrainerConfig()
    cfg_m = LLaMAConfig()
    model = LLaMA(**asdict(cfg_m))
    model.init_params(cfg_m)
    optimizer = optim.AdamW(learning_rate=build_lr_schedule(cfg_t))

    def train_forward_pass(model_, inputs_BT, labels_BT):
        logits_BTV = model_(inputs_BT)
        return nn.losses.cross_entropy(logits_BTV, labels_BT).mean()

    state = [model.state, optimizer.state]

    def train_step(inputs_BT, labels_BT):
        loss, grads = nn.value_and_grad(model, train_forward_pass)(model, inputs_BT, labels_BT)
        optimizer.update(model, grads)
        return loss, loss.exp()

    half = cfg_m.seq_len // 2
    x_val, y_val = make_batch(cfg_m, 64)
    t0 = time.time()
    model.train()
    for step in range(1, cfg_t.n_steps + 1):
        inputs_BT, labels_BT = make_batch(cfg_m, cfg_t.bsz)
        loss, ppl = train_step(inputs_BT, labels_BT)
        mx.eval(state, loss, ppl)
        if step % 50 == 0 or step == 1:
            pred = model(x_val).argmax(axis=-1)
            copy_acc = (pred[:, half:] == y_val[:, half:]).astype(mx.float32).mean().item()
            lr = optimizer.learning_rate.item()
            print(f"step {step:4d} | loss={loss.item():.4f} | ppl={ppl.item():.3f} | "
                  f"lr={lr:.2e} | copy_acc={copy_acc:.3f} | {time.time()-t0:.1f}s", flush=True)

    pred = model(x_val).argmax(axis=-1)
    copy_acc = (pred[:, half:] == y_val[:, half:]).astype(mx.float32).mean().item()
    print(f"final copy accuracy on second half: {copy_acc:.3f} (chance {1/cfg_m.vocab_size:.3f})")


if __name__ == '__main__':
    train()
