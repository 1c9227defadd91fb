"""Channel permutation: same function before pruning, more magnitude kept, honest reasons where it cannot apply."""

from __future__ import annotations

import copy

import numpy as np

from jetsonkit.sparsity import prune_2to4
from jetsonkit.sparsity.permute import channel_magnitudes, find_chains, kept_sum, permute_for_2to4, search_permutation


def _chain_net(torch):
    class ChainNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 32, 3, padding=1)
            self.bn1 = torch.nn.BatchNorm2d(32)
            self.conv2 = torch.nn.Conv2d(32, 32, 3, padding=1)
            self.fc = torch.nn.Linear(32, 16)

        def forward(self, x):
            x = torch.nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
            x = torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv2(x)), 1)
            return self.fc(x.flatten(1))

    net = ChainNet().double().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so a wrong permutation would show
        net.bn1.running_mean.uniform_(-1, 1)
        net.bn1.running_var.uniform_(0.5, 2)
        net.bn1.weight.uniform_(0.5, 1.5)
        net.bn1.bias.uniform_(-0.5, 0.5)
    return net


def test_permuted_model_computes_what_the_original_does(torch_mod):
    net = _chain_net(torch_mod)
    original = copy.deepcopy(net)
    x = torch_mod.randn(4, 3, 16, 16, dtype=torch_mod.float64)
    infos = permute_for_2to4(net, x[:1], ["conv2", "fc"], budget_s=2.0)
    assert infos["conv2"].producer == "conv1" and infos["fc"].producer == "conv2"
    assert all(i.applied and i.retained_after > i.retained_before for i in infos.values())
    assert not torch_mod.equal(net.conv2.weight, original.conv2.weight)
    with torch_mod.no_grad():
        diff = (net(x) - original(x)).abs().max().item()
    assert diff < 1e-12  # float64: only the summation order inside conv2 / fc changed


def test_residual_and_flatten_are_not_permuted(torch_mod, mnist_model):
    class Residual(torch_mod.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch_mod.nn.Conv2d(16, 16, 1)
            self.b = torch_mod.nn.Conv2d(16, 16, 1)

        def forward(self, x):
            y = self.a(x)
            return self.b(y) + y

    chains = find_chains(Residual().eval(), torch_mod.zeros(1, 16, 4, 4), ["b"])
    assert chains["b"].producer is None and "several consumers" in chains["b"].reason
    chains = find_chains(mnist_model, torch_mod.zeros(1, 1, 28, 28), ["features.3", "classifier.0"])
    assert chains["features.3"].producer == "features.0"
    assert "flatten" in chains["classifier.0"].reason


def test_search_finds_the_obvious_better_order():
    # channels 0,1 strong / 2,3 weak in every row of group 0 and the reverse in group 1 would waste 2 strong ones
    mags = np.array([[9.0], [9.0], [9.0], [9.0], [1.0], [1.0], [1.0], [1.0]])
    identity = np.arange(8)
    perm = search_permutation(mags, budget_s=1.0)
    assert sorted(perm.tolist()) == list(range(8))
    assert kept_sum(mags, perm) == 36.0 > kept_sum(mags, identity) == 20.0


def test_mnist_permutation_keeps_more_magnitude(mnist_model):
    import torch

    model = copy.deepcopy(mnist_model)
    result = prune_2to4(model, permute=True, example_input=torch.zeros(1, 1, 28, 28))
    conv = {r.name: r for r in result.layers}["features.3"]
    assert conv.retained_permuted > conv.retained
    mags = channel_magnitudes(mnist_model.features[3].weight.detach().numpy())
    assert conv.retained == kept_sum(mags, np.arange(32)) / mags.sum()
