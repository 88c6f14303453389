# Single-keypoint localisation on 16x16 synthetic images: an MLP outputs a
# spatial softmax over the 256 pixels and is trained to match a small Gaussian
# target heatmap (probability-mass MSE, so the loss is tiny by construction).
# The number that matters is the pixel error of the arg-max location.
import sys, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
H = W = 16
yy, xx = mx.meshgrid(mx.arange(H).astype(mx.float32), mx.arange(W).astype(mx.float32), indexing="ij")

def make_batch(n):
    cy = mx.random.uniform(2, H - 3, (n,))
    cx = mx.random.uniform(2, W - 3, (n,))
    d2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
    img = mx.exp(-d2 / 3.0) + 0.6 * mx.random.normal((n, H, W))        # noisy blob
    img = img + 0.5 * mx.random.uniform(0, 1, (n, 1, 1)) * (xx[None] / W)  # random gradient background
    tgt = mx.exp(-d2 / 2.0)
    tgt = tgt / mx.sum(tgt, axis=(1, 2), keepdims=True)
    return img[..., None], tgt.reshape(n, -1), mx.stack([cy, cx], axis=1)

class HeatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(H * W, 256)
        self.l2 = nn.Linear(256, H * W)
    def __call__(self, x):
        x = x.reshape(x.shape[0], -1)
        return self.l2(nn.gelu(self.l1(x)))           # logits over pixels

def loss_fn(model, img, tgt):
    p = mx.softmax(model(img), axis=-1)
    return mx.mean((p - tgt) ** 2)

def px_error(model, img, centre):
    idx = mx.argmax(model(img), axis=-1)
    py, px = (idx // W).astype(mx.float32), (idx % W).astype(mx.float32)
    return mx.mean(mx.sqrt((py - centre[:, 0]) ** 2 + (px - centre[:, 1]) ** 2))

model = HeatNet()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)
val_img, val_tgt, val_c = make_batch(256)

t0 = time.time()
sys.stdout.write("step   hm_mse      val_hm_mse  val_px_err\n")
for step in range(0, 1501):
    img, tgt, _ = make_batch(32)
    loss, grads = vg(model, img, tgt)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 150 == 0:
        vl = loss_fn(model, val_img, val_tgt)
        pe = px_error(model, val_img, val_c)
        sys.stdout.write(f"{step:<6d} {loss.item():.3e}   {vl.item():.3e}   {pe.item():5.2f} px\n")
        sys.stdout.flush()
sys.stdout.write(f"finished in {time.time()-t0:.1f}s\n")
