"""The generated module is trainable (BN in train mode, dropout and stochastic depth active) and exportable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _pytorch_util import generate, tiny_res, write_and_build

from cnndsl.api import load


def _model(graph, tmp_path, opt_level=0):
    text, _info, _g, w = generate(graph, opt_level=opt_level)
    return write_and_build(text, tmp_path / "model.py", w)


@pytest.mark.parametrize("name", ["tiny_res", "mobilenet_v3_small", "efficientnet_b0"])
def test_one_optimizer_step_lowers_the_loss(name, tmp_path):
    graph = tiny_res() if name == "tiny_res" else load(name, input_shape=(3, 64, 64), defines={"num_classes": "10"})
    model = _model(graph, tmp_path)
    model.train()
    torch.manual_seed(0)
    x = torch.randn(8, *graph.nodes[graph.input_names[0]].attrs["shape"][1:])
    y = torch.randint(0, 10, (8,))
    # dropout/stochastic depth draw new masks each call: compare losses with the same masks
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)
    loss0 = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss0.backward()
    opt.step()
    after = model.state_dict()
    changed = [k for k in before if k.endswith("weight") and not torch.equal(before[k], after[k])]
    assert changed, "no weight changed"
    # BN in train mode: running statistics moved, num_batches_tracked counted the batch
    bn_means = [k for k in before if k.endswith("running_mean")]
    assert bn_means and any(not torch.equal(before[k], after[k]) for k in bn_means)
    assert any(int(after[k]) == 1 for k in after if k.endswith("num_batches_tracked"))
    torch.manual_seed(1)
    loss1 = torch.nn.functional.cross_entropy(model(x), y)
    assert loss1.item() < loss0.item()


def test_dropout_and_stochastic_depth_are_active_in_training(tmp_path):
    model = _model(load("efficientnet_b0", input_shape=(3, 32, 32)), tmp_path)
    names = {type(m).__name__ for m in model.modules()}
    assert {"StochasticDepth", "Dropout"} <= names
    x = torch.randn(2, 3, 32, 32)
    model.train()
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    b = model(x)
    assert not torch.allclose(a, b)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_stochastic_depth_helper_matches_torchvision_semantics(tmp_path):
    model = _model(load("efficientnet_b0", input_shape=(3, 32, 32)), tmp_path)
    sd = next(m for m in model.modules() if type(m).__name__ == "StochasticDepth")
    sd.train()
    x = torch.ones(1000, 4, 2, 2)
    y = sd(x)
    rows = y.reshape(1000, -1)
    kept = (rows != 0).all(dim=1)
    assert torch.equal(rows[kept], torch.full_like(rows[kept], 1.0 / (1.0 - sd.p)))  # whole rows kept or dropped
    assert abs(float(kept.float().mean()) - (1.0 - sd.p)) < 0.1


@pytest.mark.parametrize("opt_level", [0, 1])
def test_torch_export_accepts_the_module(opt_level, tmp_path):
    graph = load("resnet18", input_shape=(3, 32, 32))
    model = _model(graph, tmp_path, opt_level).eval()
    x = torch.randn(2, 3, 32, 32)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        np.testing.assert_allclose(exported.module()(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)
