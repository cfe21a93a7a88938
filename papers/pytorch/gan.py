"""GAN (Goodfellow et al. 2014) as the PyTorch-GAN reference trains it (implementations/gan/gan.py),
with the hyperparameters of papers/gan.ts: MLP G 100→128→256→512→1024→784 with
BatchNorm1d(eps=0.8) + LeakyReLU(0.2) and tanh; MLP D 784→512→256→1 with LeakyReLU(0.2) and sigmoid;
BCE; Adam(2e-4, 0.5, 0.999); batch 64. Per batch: one G step (non-saturating), then one D step on
the same generated batch with the two BCE terms averaged.

    python3 papers/pytorch/gan.py --epochs 10 --out results/gan/pytorch-e10
    deno task eval --samples results/gan/pytorch-e10/samples.f32 --dataset mnist
"""
import time

import torch
import torch.nn as nn

from common import common_args, load_mnist, log_epoch, resume_state, save_checkpoint, write_outputs

HYPER = {"lr": 2e-4, "betas": [0.5, 0.999], "batch_size": 64, "latent_dim": 100, "bn_eps": 0.8}


class Generator(nn.Module):
    def __init__(self):
        super().__init__()

        def block(i, o, normalize=True):
            layers = [nn.Linear(i, o)]
            if normalize:
                layers.append(nn.BatchNorm1d(o, HYPER["bn_eps"]))  # eps, as the reference passes it
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(HYPER["latent_dim"], 128, normalize=False), *block(128, 256), *block(256, 512),
            *block(512, 1024), nn.Linear(1024, 784), nn.Tanh())

    def forward(self, z):
        return self.model(z).view(-1, 1, 28, 28)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(784, 512), nn.LeakyReLU(0.2, inplace=True), nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1), nn.Sigmoid())

    def forward(self, x):
        return self.model(x.view(x.size(0), -1))


def main():
    args = common_args("PyTorch GAN (MLP, MNIST) for the side-by-side comparison", 200, HYPER)
    x, _ = load_mnist(args.mnist_dir)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x),
                                         batch_size=HYPER["batch_size"], shuffle=True)
    G, D = Generator(), Discriminator()
    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), lr=HYPER["lr"], betas=tuple(HYPER["betas"]))
    opt_d = torch.optim.Adam(D.parameters(), lr=HYPER["lr"], betas=tuple(HYPER["betas"]))
    parts = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d}
    state = resume_state(args, parts)
    seen = state["seen"]
    t0 = time.perf_counter() - state["seconds"]
    for epoch in range(state["epoch"], args.epochs):
        for (real,) in loader:
            b = real.size(0)
            valid, fake = torch.ones(b, 1), torch.zeros(b, 1)
            opt_g.zero_grad()
            gen = G(torch.randn(b, HYPER["latent_dim"]))
            g_loss = bce(D(gen), valid)
            g_loss.backward()
            opt_g.step()
            opt_d.zero_grad()
            d_loss = (bce(D(real), valid) + bce(D(gen.detach()), fake)) / 2
            d_loss.backward()
            opt_d.step()
            seen += b
        last = log_epoch("gan", epoch, args.epochs, d_loss, g_loss, seen, t0)
        state.update(epoch=epoch + 1, seen=seen, seconds=time.perf_counter() - t0, last=last)
        save_checkpoint(args, parts, state)
    G.eval()  # running BatchNorm statistics, as papers/gan.ts samples for evaluation
    with torch.no_grad():
        samples = torch.cat([G(torch.randn(1000, HYPER["latent_dim"]))
                             for _ in range((args.samples + 999) // 1000)])[:args.samples]
    write_outputs(args, "gan", HYPER, samples, state)


if __name__ == "__main__":
    main()
