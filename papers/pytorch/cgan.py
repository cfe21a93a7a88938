"""CGAN (Mirza & Osindero 2014) as the MLP notebook papers/cgan.ts follows (arturml/mnist-cgan),
with the hyperparameters of papers/cgan.ts: Embedding(10, 10) in G and in D, concatenated to the
input; G [z(100), e(y)] → 256 → 512 → 1024 → 784, LeakyReLU(0.2), tanh; D [x(784), e(y)] → 1024 →
512 → 256 → 1, LeakyReLU(0.2) + Dropout(0.4) after each hidden layer, sigmoid; BCE; Adam(1e-4) with
PyTorch's default betas; 50 epochs of batch 32, the notebook's schedule. Per batch: a D step on
real (x, y) against G(z, y') with random labels y', then a G step with fresh z and labels.

    python3 papers/pytorch/cgan.py --epochs 10 --batch-size 64 --out results/cgan/pytorch-e10
    deno task eval --samples results/cgan/pytorch-e10/samples.f32 \
        --labels results/cgan/pytorch-e10/labels.i32 --dataset mnist
"""
import time

import torch
import torch.nn as nn

from common import common_args, load_mnist, log_epoch, resume_state, save_checkpoint, write_outputs

HYPER = {"lr": 1e-4, "betas": [0.9, 0.999], "batch_size": 32, "latent_dim": 100, "embed": 10,
         "dropout": 0.4}


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.label_emb = nn.Embedding(10, HYPER["embed"])
        self.model = nn.Sequential(
            nn.Linear(HYPER["latent_dim"] + HYPER["embed"], 256), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 512), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 1024), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 784), nn.Tanh())

    def forward(self, z, y):
        return self.model(torch.cat([z, self.label_emb(y)], 1)).view(-1, 1, 28, 28)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.label_emb = nn.Embedding(10, HYPER["embed"])
        p = HYPER["dropout"]
        self.model = nn.Sequential(
            nn.Linear(784 + HYPER["embed"], 1024), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(p),
            nn.Linear(1024, 512), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(p),
            nn.Linear(512, 256), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(p),
            nn.Linear(256, 1), nn.Sigmoid())

    def forward(self, x, y):
        return self.model(torch.cat([x.view(x.size(0), -1), self.label_emb(y)], 1))


def main():
    args = common_args("PyTorch CGAN (MLP, MNIST) for the side-by-side comparison", 50, HYPER)
    x, labels = load_mnist(args.mnist_dir)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, labels),
                                         batch_size=HYPER["batch_size"], shuffle=True)
    G, D = Generator(), Discriminator()
    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), lr=HYPER["lr"], betas=tuple(HYPER["betas"]))
    opt_d = torch.optim.Adam(D.parameters(), lr=HYPER["lr"], betas=tuple(HYPER["betas"]))
    parts = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d}
    state = resume_state(args, parts)
    seen = state["seen"]
    t0 = time.perf_counter() - state["seconds"]
    nz = HYPER["latent_dim"]
    for epoch in range(state["epoch"], args.epochs):
        for real, y in loader:
            b = real.size(0)
            ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
            opt_d.zero_grad()
            y_fake = torch.randint(0, 10, (b,))
            fake = G(torch.randn(b, nz), y_fake).detach()
            d_loss = bce(D(real, y), ones) + bce(D(fake, y_fake), zeros)
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            y_g = torch.randint(0, 10, (b,))
            g_loss = bce(D(G(torch.randn(b, nz), y_g), y_g), ones)
            g_loss.backward()
            opt_g.step()
            seen += b
        last = log_epoch("cgan", epoch, args.epochs, d_loss, g_loss, seen, t0)
        state.update(epoch=epoch + 1, seen=seen, seconds=time.perf_counter() - t0, last=last)
        save_checkpoint(args, parts, state)
    G.eval()
    want = torch.arange(args.samples) % 10  # every class equally, as papers/cgan.ts evaluates
    with torch.no_grad():
        samples = torch.cat([G(torch.randn(len(c), nz), c) for c in want.split(1000)])
    write_outputs(args, "cgan", HYPER, samples, state, labels=want)


if __name__ == "__main__":
    main()
