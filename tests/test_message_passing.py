"""Fully connected message passing (MPGAN's layer): its formula, permutation equivariance,
masked senders, and the generator's noise-rank mask."""

import pytest
import torch

from genhep.nn.message_passing import MessagePassing, MessagePassingNetwork, genuine_by_noise_rank


@pytest.fixture
def clouds():
    torch.manual_seed(0)
    x = torch.randn(4, 7, 3)
    mask = torch.rand(4, 7) > 0.3
    mask[:, 0] = True
    return x, mask


def test_layer_is_the_formula(clouds):
    x, mask = clouds
    layer = MessagePassing(3, 5, edge_hidden=(6, 4), node_hidden=(8,))
    out = layer(x, mask)
    b, i = 1, 2
    messages = [layer.edge(torch.cat([x[b, i], x[b, j]])) * mask[b, j] for j in range(7)]
    expected = layer.node(torch.cat([torch.stack(messages).sum(0), x[b, i]]))
    torch.testing.assert_close(out[b, i], expected)
    # LeakyReLU(0.2) after every edge layer, the node network ends linear
    assert isinstance(layer.edge[-1], torch.nn.LeakyReLU) and layer.edge[-1].negative_slope == 0.2
    assert isinstance(layer.node[-1], torch.nn.Linear)


def test_permutation_equivariant_and_padding_never_reaches_genuine_particles(clouds):
    x, mask = clouds
    net = MessagePassingNetwork(3, 3, hidden_features=16, layers=2).eval()
    out = net(x, mask)
    perm = torch.randperm(7)
    torch.testing.assert_close(net(x[:, perm], mask[:, perm]), out[:, perm])
    noisy = torch.where(mask[..., None], x, 100 * torch.randn_like(x))
    torch.testing.assert_close(net(noisy, mask)[mask], out[mask])


def test_dropout_after_every_linear_layer():
    layer = MessagePassing(3, 2, edge_hidden=(4, 4), node_hidden=(4,), dropout=0.5)
    for network in (layer.edge, layer.node):
        linears = [i for i, m in enumerate(network) if isinstance(m, torch.nn.Linear)]
        dropouts = [i for i, m in enumerate(network) if isinstance(m, torch.nn.Dropout)]
        assert len(dropouts) == len(linears)
        assert all(d > lin for d, lin in zip(dropouts, linears, strict=True))


def test_generator_mask_keeps_the_n_smallest_first_noise_coordinates():
    noise = torch.tensor([[[0.3], [-1.0], [2.0], [0.1]], [[5.0], [4.0], [3.0], [2.0]]])
    mask = genuine_by_noise_rank(noise, torch.tensor([2, 3]))
    assert mask.tolist() == [[False, True, False, True], [False, True, True, True]]
    many = genuine_by_noise_rank(torch.randn(50, 30, 4), torch.arange(50) % 31)
    assert many.sum(1).tolist() == (torch.arange(50) % 31).tolist()
