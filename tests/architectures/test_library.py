"""The model library: every network elaborates; params/MACs equal torchvision's figures;
state_dict keys follow torchvision's module paths.

Reference figures: the `num_params` and `_ops` (GFLOPS) fields of the weight enums'
`meta` in torchvision 0.29.1's source (torchvision/models/*.py and models/segmentation/*.py,
read from the wheel's source text; rounded to two decimals in the table at
https://pytorch.org/vision/stable/models.html). `_ops` counts conv + linear multiply-adds at
the evaluation crop (224; 240/288/300 for EfficientNet-B1/B2/B3; 299 for inception_v3;
520 for the segmentation models), in billions, to three decimals -- our `macs` rule counts
exactly these.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cnndsl.api import load
from cnndsl.elaborate.modules import library_index

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from libstats import stats

# name: (trainable params, GMACs as published, evaluation input (C, H, W) or None for the file's own)
TORCHVISION = {
    "resnet18": (11_689_512, 1.814, None),
    "resnet34": (21_797_672, 3.664, None),
    "resnet50": (25_557_032, 4.089, None),
    "resnet101": (44_549_160, 7.801, None),
    "resnet152": (60_192_808, 11.514, None),
    "resnext50_32x4d": (25_028_904, 4.23, None),
    "resnext101_32x8d": (88_791_336, 16.414, None),
    "wide_resnet50_2": (68_883_240, 11.398, None),
    "wide_resnet101_2": (126_886_696, 22.753, None),
    "vgg11": (132_863_336, 7.609, None),
    "vgg11_bn": (132_868_840, 7.609, None),
    "vgg13": (133_047_848, 11.308, None),
    "vgg13_bn": (133_053_736, 11.308, None),
    "vgg16": (138_357_544, 15.47, None),
    "vgg16_bn": (138_365_992, 15.47, None),
    "vgg19": (143_667_240, 19.632, None),
    "vgg19_bn": (143_678_248, 19.632, None),
    "mobilenet_v2": (3_504_872, 0.301, None),
    "alexnet": (61_100_840, 0.714, None),
    "densenet121": (7_978_856, 2.834, None),
    "densenet161": (28_681_000, 7.728, None),
    "densenet169": (14_149_480, 3.36, None),
    "densenet201": (20_013_928, 4.291, None),
    "squeezenet1_0": (1_248_424, 0.819, None),
    "squeezenet1_1": (1_235_496, 0.349, None),
    "mobilenet_v3_large": (5_483_032, 0.217, None),
    "mobilenet_v3_small": (2_542_856, 0.057, None),
    "googlenet": (6_624_904, 1.498, None),
    "efficientnet_b0": (5_288_548, 0.386, None),
    "efficientnet_b1": (7_794_184, 0.687, (3, 240, 240)),
    "efficientnet_b2": (9_109_994, 1.088, (3, 288, 288)),
    "efficientnet_b3": (12_233_232, 1.827, (3, 300, 300)),
    "shufflenet_v2_x0_5": (1_366_792, 0.04, None),
    "shufflenet_v2_x1_0": (2_278_604, 0.145, None),
    "shufflenet_v2_x1_5": (3_503_624, 0.296, None),
    "shufflenet_v2_x2_0": (7_393_996, 0.583, None),
    "mnasnet0_5": (2_218_512, 0.104, None),
    "mnasnet0_75": (3_170_208, 0.215, None),
    "mnasnet1_0": (4_383_312, 0.314, None),
    "mnasnet1_3": (6_282_256, 0.526, None),
    "regnet_x_400mf": (5_495_976, 0.414, None),
    "regnet_y_400mf": (4_344_144, 0.402, None),
    "convnext_tiny": (28_589_128, 4.456, None),
    "convnext_small": (50_223_688, 8.684, None),
    "inception_v3": (27_161_264, 5.713, None),
    "fcn_resnet50": (35_322_218, 152.717, (3, 520, 520)),
    "deeplabv3_resnet50": (42_004_074, 178.722, (3, 520, 520)),
    "fcn_resnet101": (54_314_346, 232.738, (3, 520, 520)),
    "deeplabv3_resnet101": (60_996_202, 258.743, (3, 520, 520)),
    # detection, up to the raw head outputs; GFLOPS at 800x800 (RetinaNet_ResNet50_FPN_Weights.COCO_V1)
    "retinanet_resnet50_fpn": (34_014_999, 151.54, None),
    "ssd300_vgg16": (35_641_826, 34.86, None),  # SSD300_VGG16_Weights.COCO_V1, at 300x300
    # video (models/video/resnet.py), one 3x16x112x112 clip (R3D_18_Weights.KINETICS400_V1 etc.)
    "r3d_18": (33_371_472, 40.697, None),
    "mc3_18": (11_695_440, 43.343, None),
    "r2plus1d_18": (31_505_325, 40.519, None),
}

# Networks torchvision lacks: trainable params of the reference implementation named.
OTHER_REFERENCES = {
    "se_resnet50": 28_088_024,   # timm seresnet50 (Hu et al. Table 1 layout, r=16)
    # CBAM authors' code (Jongchan/attention-module): SE-sized MLP with biases + per block a bias-free
    # 7x7 conv 2->1 and its BN: 28,088,024 + 16 * (98 + 2); the paper's Table 4 says 28.09 M
    "cbam_resnet50": 28_089_624,
    "xception": 22_855_952,      # timm legacy_xception / Cadene pretrainedmodels xception
    "mobilenet_v1": 4_231_976,   # Howard et al. Table 8: "4.2 M" (and 569 M mult-adds, checked below)
    "lenet5": 61_706,            # LeCun et al. 1998 layer sizes with a dense C3 and a linear output
    # resnet18 11,689,512 + one embedded-Gaussian block on 256 channels (Wang et al. Fig. 2):
    # theta/phi/g 3 * (256*128 + 128) + W (128*256 + 256) + BN 2*256 = 132,224
    "nonlocal_resnet18": 11_821_736,
    # Cicek et al. 2016, Sec. 2: "19069955 parameters in total" (3-D U-Net, tests/architectures/test_unet3d_resnet1d.py)
    "unet3d": 19_069_955,
    # Wang et al. 2017 ResNet as Fawaz et al.'s Keras reference builds it, 1 channel in, 10 classes (by hand: same test)
    "resnet1d": 505_290,
}

INDEX = library_index()
LIBRARY = sorted(INDEX)


def _have(name: str) -> None:
    assert name in INDEX, f"{name} is missing from the library index"


@pytest.mark.parametrize("name", LIBRARY)
def test_every_network_elaborates(name):
    g = load(name)
    assert g.outputs
    p, m, _ = stats(g)
    assert p > 0 and m > 0


@pytest.mark.parametrize("name", sorted(n for n, e in INDEX.items() if n != e.network))
def test_every_network_reports(name):
    # the report (all analyses, as `cnndsl list`/`report` run them) agrees with the registry sums
    from cnndsl.passes.manager import annotate
    from cnndsl.report.model import build_report

    g = load(name)
    p, m, _ = stats(g)
    totals = build_report(annotate(g)).totals
    assert totals["complete"], totals["unsupported"]
    assert (totals["params"], totals["macs"]) == (p, m)


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_params_and_macs_match_torchvision(name):
    _have(name)
    params, gmacs, shape = TORCHVISION[name]
    # torchvision measures inception_v3 in eval mode: the aux head's MACs are not in its figure
    p, m, _ = stats(load(name, input_shape=shape), first_output_macs=(name == "inception_v3"))
    assert p == params
    # the published figure is rounded (3 decimals in `_ops`)
    decimals = len(repr(gmacs).split(".")[1])
    assert abs(m / 1e9 - gmacs) <= 0.5 * 10 ** -decimals + 1e-12, f"{m / 1e9:.4f} GMACs vs {gmacs}"


@pytest.mark.parametrize("name", sorted(OTHER_REFERENCES))
def test_params_match_other_references(name):
    _have(name)
    p, m, _ = stats(load(name))
    assert p == OTHER_REFERENCES[name]
    if name == "mobilenet_v1":
        assert round(m / 1e6) == 569
    if name == "nonlocal_resnet18":
        # resnet18's 1,814,073,344 + the block at 14x14 (hw = 196): theta/phi/g 3*196*256*128,
        # two matmuls 2*196*196*128, W 196*128*256
        assert m == 1_814_073_344 + 3 * 196 * 256 * 128 + 2 * 196 * 196 * 128 + 196 * 128 * 256 == 1_849_597_952


KEYS = {
    "resnet50": ["conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.bias",
                 "layer3.5.conv2.weight", "layer4.2.bn3.weight", "fc.weight", "fc.bias"],
    "resnet18": ["layer2.0.downsample.0.weight", "layer4.1.bn2.running_var"],
    "cbam_resnet50": ["layer1.0.cbam.channel.fc1.weight", "layer1.0.cbam.channel.fc2.bias",
                      "layer4.2.cbam.spatial.conv.conv.weight", "layer4.2.cbam.spatial.conv.bn.running_var"],
    "se_resnet50": ["layer1.0.se.fc1.weight", "layer4.2.se.fc2.bias", "layer1.0.downsample.0.weight"],
    "xception": ["conv1.weight", "block1.skip.weight", "block1.rep.0.conv1.weight", "block1.rep.0.pointwise.weight",
                 "block1.rep.1.weight", "block2.rep.1.pointwise.weight", "block12.skipbn.bias", "conv4.pointwise.weight",
                 "bn4.weight", "fc.weight"],
    "resnext50_32x4d": ["layer1.0.conv2.weight"],
    "vgg16": ["features.0.weight", "features.28.bias", "classifier.0.weight", "classifier.6.bias"],
    "vgg16_bn": ["features.1.running_mean", "features.41.weight"],
    "mobilenet_v2": ["features.0.0.weight", "features.1.conv.0.0.weight", "features.3.conv.0.0.weight",
                     "features.3.conv.3.weight", "features.18.0.weight", "classifier.1.weight"],
    "alexnet": ["features.0.weight", "features.10.bias", "classifier.1.weight", "classifier.6.bias"],
    "densenet121": ["features.conv0.weight", "features.norm0.weight", "features.denseblock1.denselayer1.conv1.weight",
                    "features.transition1.conv.weight", "features.norm5.bias", "classifier.weight"],
    "squeezenet1_0": ["features.0.weight", "features.3.squeeze.weight", "features.3.expand3x3.bias",
                      "classifier.1.weight"],
    "mobilenet_v3_large": ["features.0.0.weight", "features.4.block.2.fc1.weight", "features.16.0.weight",
                           "classifier.0.weight", "classifier.3.weight"],
    "googlenet": ["conv1.conv.weight", "inception3a.branch2.1.conv.weight", "inception5b.branch4.1.bn.bias",
                  "fc.weight"],
    "efficientnet_b0": ["features.0.0.weight", "features.1.0.block.1.fc1.weight", "features.2.0.block.0.0.weight",
                        "features.8.0.weight", "classifier.1.weight"],
    "convnext_tiny": ["features.0.0.weight", "features.1.0.block.0.weight", "features.1.0.block.3.weight",
                      "features.1.0.layer_scale", "features.1.0.block.2.weight", "features.1.0.block.5.weight",
                      "features.2.0.weight", "classifier.0.weight", "classifier.2.weight"],
    "shufflenet_v2_x1_0": ["conv1.0.weight", "stage2.0.branch1.0.weight", "stage2.1.branch2.0.weight",
                           "conv5.0.weight", "fc.weight"],
    # torchvision names RegNet blocks "block1-0"
    "regnet_y_400mf": ["stem.0.weight", "trunk_output.block1.block1-0.f.a.0.weight",
                       "trunk_output.block1.block1-0.f.se.fc1.weight", "trunk_output.block1.block1-0.proj.0.weight",
                       "fc.weight"],
    "mnasnet1_0": ["layers.0.weight", "layers.8.0.layers.0.weight", "layers.14.weight", "classifier.1.weight"],
    "inception_v3": ["Conv2d_1a_3x3.conv.weight", "Mixed_5b.branch1x1.conv.weight", "Mixed_7c.branch3x3dbl_3b.bn.bias",
                     "AuxLogits.fc.weight", "fc.weight"],
    "fcn_resnet50": ["backbone.layer4.2.conv2.weight", "classifier.0.weight", "classifier.4.bias",
                     "aux_classifier.4.weight"],
    "r3d_18": ["stem.0.weight", "stem.1.running_var", "layer1.0.conv1.0.weight", "layer1.0.conv2.1.bias",
               "layer2.0.downsample.0.weight", "layer4.1.conv2.0.weight", "fc.weight"],
    "r2plus1d_18": ["stem.3.weight", "stem.4.weight", "layer1.0.conv1.0.0.weight", "layer1.0.conv1.0.1.running_mean",
                    "layer1.0.conv1.0.3.weight", "layer3.0.downsample.1.weight", "fc.bias"],
    "deeplabv3_resnet50": ["backbone.conv1.weight", "classifier.0.convs.0.0.weight", "classifier.0.convs.4.1.weight",
                           "classifier.0.project.0.weight", "classifier.4.weight", "aux_classifier.0.weight"],
}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_state_dict_keys_follow_torchvision(name):
    _have(name)
    _, _, keys = stats(load(name))
    missing = [k for k in KEYS[name] if k not in keys]
    assert not missing, f"{name}: missing {missing}; have e.g. {list(keys)[:12]}"


def test_resnet50_state_dict_size_matches_torchvision():
    # torchvision resnet50().state_dict() has 320 entries (incl. num_batches_tracked)
    _, _, keys = stats(load("resnet50"))
    assert len(keys) == 320


def test_gallery_is_up_to_date():
    import gallery

    assert gallery.main(["--check"]) == 0, "run: .venv/bin/python scripts/gallery.py"
