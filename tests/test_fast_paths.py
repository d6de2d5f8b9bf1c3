"""The default fast paths are the same maths as the plain formulation (to float tolerance).

Plain: NCHW, Adam's default (foreach) implementation, a second G forward for G's step,
D's parameter gradients computed (and thrown away) in G's step. gankit: channels_last,
fused Adam, the D step's fake batch reused, D's parameters frozen during G's step.
"""

import copy

import torch
import torch.nn.functional as F

from gankit.models import MODELS
from gankit.families.gan import GANTrainer

Z_DIM, SHAPE, BATCH = 8, (1, 16, 16), 8


def _models():
    torch.manual_seed(0)
    G_cls, D_cls = MODELS["dcgan"]
    return G_cls(Z_DIM, SHAPE, 8), D_cls(SHAPE, 8)


def _plain_step(G, D, opt_g, opt_d, real, z) -> tuple[float, float]:
    """The textbook step, with G run twice on the same z (batch norm in train mode: same output)."""
    fake = G(z)
    d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = F.softplus(-D(G(z))).mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss.item(), g_loss.item()


def test_gankit_step_matches_plain_step():
    G, D = _models()
    pG, pD = copy.deepcopy(G), copy.deepcopy(D)
    G.to(memory_format=torch.channels_last)
    D.to(memory_format=torch.channels_last)
    trainer = GANTrainer(G, D, torch.optim.Adam(G.parameters(), 2e-4, (0.5, 0.999), fused=True),
                         torch.optim.Adam(D.parameters(), 2e-4, (0.5, 0.999), fused=True))
    opt_g = torch.optim.Adam(pG.parameters(), 2e-4, (0.5, 0.999), foreach=True)
    opt_d = torch.optim.Adam(pD.parameters(), 2e-4, (0.5, 0.999), foreach=True)
    data = torch.rand(3, BATCH, *SHAPE) * 2 - 1
    for i in range(3):
        torch.manual_seed(100 + i)
        stats = trainer.train_step(lambda: (data[i], None))
        torch.manual_seed(100 + i)
        d_loss, g_loss = _plain_step(pG, pD, opt_g, opt_d, data[i], torch.randn(BATCH, Z_DIM))
        assert abs(stats["d_loss"].item() - d_loss) < 1e-5 and abs(stats["g_loss"].item() - g_loss) < 1e-5
    for fast, plain in ((G, pG), (D, pD)):
        for (name, a), b in zip(fast.named_parameters(), plain.parameters()):
            assert torch.allclose(a, b, atol=1e-5), name


def test_channels_last_gives_same_gradients():
    G, D = _models()
    grads = []
    for layout in (torch.contiguous_format, torch.channels_last):
        g, d = copy.deepcopy(G).to(memory_format=layout), copy.deepcopy(D).to(memory_format=layout)
        torch.manual_seed(1)
        loss = F.softplus(-d(g(torch.randn(BATCH, Z_DIM)))).mean()
        loss.backward()
        grads.append([p.grad.clone() for p in [*g.parameters(), *d.parameters()]])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(*grads))


def test_frozen_d_gives_same_g_gradients():
    G, D = _models()
    grads = []
    for freeze in (False, True):
        g, d = copy.deepcopy(G), copy.deepcopy(D)
        d.requires_grad_(not freeze)
        torch.manual_seed(2)
        F.softplus(-d(g(torch.randn(BATCH, Z_DIM)))).mean().backward()
        grads.append([p.grad.clone() for p in g.parameters()])
        assert freeze == all(p.grad is None for p in d.parameters())
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_fused_adam_matches_foreach_adam():
    results = []
    for fused in (True, False):
        torch.manual_seed(3)
        w = torch.nn.Parameter(torch.randn(10, 10))
        opt = torch.optim.Adam([w], 1e-2, (0.5, 0.999), fused=fused or None, foreach=None if fused else True)
        for _ in range(5):
            opt.zero_grad()
            (w.sin() ** 2).sum().backward()
            opt.step()
        results.append(w.detach().clone())
    assert torch.allclose(*results, atol=1e-6)
