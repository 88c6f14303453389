# Tiny LoRA-style SFT driver modelled on mlx_lm.lora: CLI args + a config file,
# then a completion-only fine-tune of a small causal transformer.
import argparse, json, os, tempfile, time, types
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONFIG_DEFAULTS = {
    "iters": 120,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "steps_per_report": 10,
    "steps_per_eval": 40,
    "seed": 0,
}


def build_parser():
    p = argparse.ArgumentParser(description="fine-tune")
    p.add_argument("--config", type=str, default=None)
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument(
        "--mask-prompt",
        action="store_true",
        help="Mask the prompt in the loss when training",
        default=False,
    )
    p.add_argument("--seed", type=int, default=None)
    return p


VOCAB, SEP, PLEN, CLEN = 32, 1, 6, 3


def make_split(n, key):
    prompt = mx.random.randint(4, VOCAB, (n, PLEN), key=key)
    sep = mx.full((n, 1), SEP, dtype=prompt.dtype)
    completion = prompt[:, :CLEN]  # answer: echo the first three prompt tokens
    return mx.concatenate([prompt, sep, completion], axis=1)


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, h)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        y = self.ln1(x)
        x = x + self.attn(y, y, y, mask)
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, d=64, h=4, layers=2, ctx=16):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = [Block(d, h) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.ln(h))


def default_loss(model, batch, lengths):
    inputs = batch[:, :-1]
    targets = batch[:, 1:]
    logits = model(inputs).astype(mx.float32)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


def lengths_for(batch, mask_prompt):
    n, L = batch.shape
    off = PLEN + 1 if mask_prompt else 0
    return mx.array([[off, L - 1]] * n)


def run(args):
    mx.random.seed(args.seed)
    k1, k2 = mx.random.split(mx.random.key(args.seed))
    train, valid = make_split(4096, k1), make_split(512, k2)
    model = TinyLM()
    opt = optim.Adam(learning_rate=args.learning_rate)
    loss_and_grad = nn.value_and_grad(model, default_loss)
    print(f"mask_prompt={args.mask_prompt} iters={args.iters} lr={args.learning_rate}")

    def evaluate():
        vl = lengths_for(valid, args.mask_prompt)
        loss, _ = default_loss(model, valid, vl)
        pred = mx.argmax(model(valid[:, :-1]), axis=-1)[:, PLEN:]
        acc = (pred == valid[:, PLEN + 1:]).astype(mx.float32).mean()
        return loss.item(), acc.item()

    trained, tic, acc_loss, acc_n = 0, time.perf_counter(), 0.0, 0
    for it in range(1, args.iters + 1):
        idx = mx.random.randint(0, train.shape[0], (args.batch_size,))
        batch = train[idx]
        (loss, ntoks), grads = loss_and_grad(model, batch, lengths_for(batch, args.mask_prompt))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, ntoks)
        acc_loss += loss.item(); acc_n += 1; trained += int(ntoks.item())
        if it % args.steps_per_report == 0 or it == 1:
            dt = time.perf_counter() - tic
            print(f"Iter {it}: Train loss {acc_loss / acc_n:.3f}, Learning Rate {args.learning_rate:.3e}, "
                  f"It/sec {acc_n / dt:.3f}, Trained Tokens {trained}")
            acc_loss, acc_n, tic = 0.0, 0, time.perf_counter()
        if it % args.steps_per_eval == 0:
            vloss, vacc = evaluate()
            print(f"Iter {it}: Val loss {vloss:.3f}, Val answer acc {vacc:.3f}")
    print("Saved final adapter weights.")


def main():
    parser = build_parser()
    cfg_path = os.path.join(tempfile.mkdtemp(), "lora_config.json")
    with open(cfg_path, "w") as f:
        json.dump({"mask_prompt": True, "iters": 120, "learning_rate": 2e-3}, f)
    args = vars(parser.parse_args(["--config", cfg_path]))
    config = args["config"]
    if config:
        print("Loading configuration file", config)
        with open(config) as f:
            config = json.load(f)
        # Prefer parameters from command-line arguments
        for k, v in config.items():
            if args.get(k, None) is None:
                args[k] = v
    for k, v in CONFIG_DEFAULTS.items():
        if args.get(k, None) is None:
            args[k] = v
    run(types.SimpleNamespace(**args))


if __name__ == "__main__":
    main()
