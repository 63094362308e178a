"""ssd300_vgg16 against torchvision's module tree, written out by hand.

torchvision is not a test dependency: the classes below are torchvision's SSD modules
(models/detection/ssd.py: SSDFeatureExtractorVGG on vgg16's features, SSDHead with one
predictor per level) with the same attribute names, so the same state_dict keys. Checked:
the key set and every shape, the published 35,641,826 parameters and 34.86 G
multiply-adds, and a torchvision-layout state_dict loaded by name into the generated
PyTorch module gives the same twelve head outputs as the hand-written forward (L2Norm with
its learned scale included).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

nn = torch.nn
F = torch.nn.functional

from cnndsl.api import load
from cnndsl.weights import Weights, expected_params, validate

ANCHORS = [4, 6, 6, 6, 4, 4]


def vgg16_features():
    layers, cin = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
            cin = v
    return nn.Sequential(*layers)


def extra_block(cin, mid, out, stride, padding):
    return nn.Sequential(nn.Conv2d(cin, mid, 1), nn.ReLU(), nn.Conv2d(mid, out, 3, stride, padding), nn.ReLU())


class Backbone(nn.Module):  # torchvision's SSDFeatureExtractorVGG(vgg16().features, highres=False)
    def __init__(self):
        super().__init__()
        backbone = vgg16_features()
        backbone[16].ceil_mode = True
        self.scale_weight = nn.Parameter(torch.ones(512) * 20)
        self.features = nn.Sequential(*backbone[:23])
        fc = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(512, 1024, 3, padding=6, dilation=6), nn.ReLU(),
                           nn.Conv2d(1024, 1024, 1), nn.ReLU())
        self.extra = nn.ModuleList([nn.Sequential(*backbone[23:-1], fc),
                                    extra_block(1024, 256, 512, 2, 1), extra_block(512, 128, 256, 2, 1),
                                    extra_block(256, 128, 256, 1, 0), extra_block(256, 128, 256, 1, 0)])

    def forward(self, x):
        x = self.features(x)
        out = [self.scale_weight.view(1, -1, 1, 1) * F.normalize(x)]
        for block in self.extra:
            x = block(x)
            out.append(x)
        return out


class Scoring(nn.Module):
    def __init__(self, columns):
        super().__init__()
        self.module_list = nn.ModuleList(nn.Conv2d(c, columns * a, 3, padding=1)
                                         for c, a in zip([512, 1024, 512, 256, 256, 256], ANCHORS))


class SSD(nn.Module):
    def __init__(self, classes=91):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Module()
        self.head.classification_head = Scoring(classes)
        self.head.regression_head = Scoring(4)

    def forward(self, x):
        feats = self.backbone(x)
        heads = (self.head.classification_head, self.head.regression_head)
        return [m(f) for h in heads for m, f in zip(h.module_list, feats)]


def test_key_set_shapes_and_published_figures():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from libstats import stats

    g = load("ssd300_vgg16")
    with torch.device("meta"):
        ref = SSD()
    assert {k: s for k, (s, _t) in expected_params(g).items()} == {k: tuple(v.shape)
                                                                   for k, v in ref.state_dict().items()}
    params, macs, _ = stats(g)
    assert params == sum(p.numel() for p in ref.parameters()) == 35_641_826  # SSD300_VGG16_Weights.COCO_V1
    assert round(macs / 1e9, 2) == 34.86


def test_torchvision_state_dict_runs_the_same(tmp_path):
    from cnndsl.backends.pytorch.runtime import build_model

    from cnndsl.backend import CompileOptions, get_backend

    torch.manual_seed(0)
    ref = SSD().eval()
    with torch.no_grad():
        ref.backbone.scale_weight.uniform_(10.0, 30.0)
    g = load("ssd300_vgg16")
    weights = validate(g, {k: v.numpy() for k, v in ref.state_dict().items()})
    path = tmp_path / "ssd.py"
    get_backend("pytorch").compile(g, Weights(weights), path, CompileOptions())
    model = build_model(path, weights).eval()
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((1, 3, 300, 300)).astype(np.float32))
    with torch.no_grad():
        want, got = ref(x), model(x)
    assert len(got) == len(want) == 12
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-4)
