# Tiny ViT on synthetic 16x16 "digit" images, manual batching from a numpy permutation.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

np.random.seed(0)
mx.random.seed(0)

NUM_CLASSES, IMG, PATCH, DIM = 4, 16, 4, 32

PROTOS = np.random.rand(NUM_CLASSES, IMG, IMG) > 0.6

def make_data(n):
    protos = PROTOS
    y = np.random.randint(0, NUM_CLASSES, size=n)
    x = protos[y].astype(np.float32) + 0.9 * np.random.randn(n, IMG, IMG).astype(np.float32)
    return mx.array(x[..., None]), mx.array(y.astype(np.int32))

class TinyViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(1, DIM, kernel_size=PATCH, stride=PATCH)
        n_tok = (IMG // PATCH) ** 2
        self.cls = mx.zeros((1, 1, DIM))
        self.pos = mx.random.normal((1, n_tok + 1, DIM)) * 0.02
        self.enc = nn.TransformerEncoder(num_layers=2, dims=DIM, num_heads=4, mlp_dims=64)
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, NUM_CLASSES)

    def __call__(self, x):
        t = self.patch(x)
        B = t.shape[0]
        t = t.reshape(B, -1, DIM)
        t = mx.concatenate([mx.broadcast_to(self.cls, (B, 1, DIM)), t], axis=1) + self.pos
        t = self.enc(t, None)
        return self.head(self.norm(t[:, 0]))

def calculate_loss_acc(model, images, labels):
    logits = model(images)
    loss = nn.losses.cross_entropy(logits, labels, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == labels)
    return loss, acc

def train_epoch(model, optimizer, images_full, labels_full, batch_size, epoch_num, total_epochs):
    model.train()
    total_loss = 0.0
    num_samples = images_full.shape[0]
    num_batches = math.ceil(num_samples / batch_size)
    loss_and_grad_fn = nn.value_and_grad(model, calculate_loss_acc)
    perm = np.random.permutation(num_samples)
    for i in range(num_batches):
        batch_indices = perm[i * batch_size : (i + 1) * batch_size]
        batch_images = images_full[batch_indices]
        batch_labels = labels_full[batch_indices]
        (loss, acc), grads = loss_and_grad_fn(model, batch_images, batch_labels)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
        total_loss += loss.item()
        if i % 10 == 0:
            print(f"Epoch {epoch_num+1}/{total_epochs} batch {i:3d}/{num_batches} loss={loss.item():.4f} acc={acc.item()*100:.2f}%")
    return total_loss / num_batches

def evaluate(model, images, labels):
    model.eval()
    loss, acc = calculate_loss_acc(model, images, labels)
    mx.eval(loss, acc)
    return loss.item(), acc.item()

def main():
    xtr, ytr = make_data(1536)
    xva, yva = make_data(384)
    model = TinyViT()
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)
    epochs = 4
    t0 = time.time()
    for ep in range(epochs):
        avg = train_epoch(model, optimizer, xtr, ytr, 64, ep, epochs)
        vl, va = evaluate(model, xva, yva)
        print(f"== epoch {ep+1}: train_loss {avg:.4f} | val_loss {vl:.4f} | val_acc {va*100:.2f}%")
    print(f"done in {time.time()-t0:.1f}s")

if __name__ == "__main__":
    main()
