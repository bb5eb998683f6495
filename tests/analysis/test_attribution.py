import pytest
import torch
from torch import nn

from analysis import (
    GradCAM,
    IntegratedGradients,
    Occlusion,
    Saliency,
    attached_hook_count,
    channel_importance,
    channel_similarity,
    compare_attributions,
    importance_versus_redundancy,
)

from ._models import FailingNet, TinyNet, images

METHODS = {
    "saliency": lambda model: Saliency(model),
    "integrated gradients": lambda model: IntegratedGradients(model, n_steps=8, internal_batch_size=4),
    "grad-cam": lambda model: GradCAM(model, "conv2"),
    "occlusion": lambda model: Occlusion(model, window_px=4, stride_px=4),
}


@pytest.mark.parametrize("name", METHODS)
def test_every_method_has_the_same_signature_and_result(name):
    model = TinyNet().train()
    x = images(batch=2)
    result = METHODS[name](model).attribute(x, target=[1, 2])
    assert result.heatmaps.shape == (2, 12, 12)
    assert result.attributions.shape[0] == 2 and result.attributions.shape[2:] == (12, 12)
    assert result.targets.tolist() == [1, 2]
    assert result.heatmaps.abs().sum() > 0
    assert model.training and attached_hook_count(model) == 0


@pytest.mark.parametrize("name", METHODS)
def test_no_hook_is_left_behind_after_an_error(name):
    model = FailingNet(fail_on_call=2)  # the method's own first forward pass fails
    with pytest.raises(RuntimeError, match="planted"):
        METHODS[name](model).attribute(images(batch=1), target=0)
    assert attached_hook_count(model) == 0


@pytest.mark.parametrize("method", ["ablation", "conductance"])
def test_channel_importance_after_an_error_leaves_no_hook(method):
    model = FailingNet(fail_on_call=2)
    with pytest.raises(RuntimeError, match="planted"):
        channel_importance(model, "conv1", images(batch=1), target=0, method=method)
    assert attached_hook_count(model) == 0


def test_saliency_of_a_linear_model_is_its_weight():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    x = torch.randn(1, 3, 4, 4)
    result = Saliency(model).attribute(x, target=1)
    expected = model[1].weight[1].detach().abs().view(3, 4, 4)
    assert torch.allclose(result.attributions[0], expected)
    assert torch.allclose(result.heatmaps[0], expected.amax(0))


def test_integrated_gradients_complete_the_score_difference():
    model = TinyNet().eval()
    x = images(batch=1)
    result = IntegratedGradients(model, n_steps=64, internal_batch_size=16).attribute(x, target=0)
    with torch.no_grad():
        difference = model(x)[0, 0] - model(torch.zeros_like(x))[0, 0]
    assert float(result.attributions.sum()) == pytest.approx(float(difference), rel=0.05, abs=1e-3)


def test_grad_cam_is_non_negative_and_image_sized():
    result = GradCAM(TinyNet(), "conv2").attribute(images(batch=2, size=10), target=3)
    assert result.attributions.shape == (2, 1, 10, 10)
    assert float(result.heatmaps.min()) >= 0


def _dead_and_live_channel_model() -> nn.Sequential:
    """Channel 0 of conv is read by the classifier, channel 1 is multiplied by 0."""
    conv = nn.Conv2d(3, 2, 3, padding=1)
    head = nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.5, 0.0]]))
        head.bias.zero_()
    return nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()


@pytest.mark.parametrize("method", ["ablation", "conductance"])
def test_channel_importance_finds_the_channel_the_classifier_reads(method):
    model = _dead_and_live_channel_model()
    x = images(batch=3, size=6)
    importance = channel_importance(model, "0", x, target=[0, 1, 0], method=method, n_steps=8)
    assert importance.per_image.shape == (3, 2)
    assert importance.importance[1] == pytest.approx(0.0, abs=1e-6)
    assert float(importance.importance[0]) > 0
    with torch.no_grad():
        mean_response = model[0](x)[:, 0].mean((1, 2))
        baseline_response = model[0](torch.zeros_like(x))[:, 0].mean((1, 2))
    weights = torch.tensor([1.0, 0.5, 1.0])
    # the model is linear: ablation = the score lost when the map is zeroed; conductance = the score
    # change along the path from the black image, which flows through the channel
    reference = baseline_response if method == "conductance" else torch.zeros(3)
    assert torch.allclose(importance.per_image[:, 0], (mean_response - reference) * weights, atol=1e-4)


def test_importance_against_redundancy():
    model = _dead_and_live_channel_model()
    x = images(batch=2, size=6)
    importance = channel_importance(model, "0", x)
    maps = torch.randn(2, 2, 6, 6)
    maps[:, 1] = 2 * maps[:, 0]
    result = importance_versus_redundancy(importance, channel_similarity(maps), threshold=0.9)
    assert result.redundancy.tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert result.redundant.tolist() == [True, True]
    assert result.mean_importance_other != result.mean_importance_other  # NaN: no other channel
    with pytest.raises(ValueError, match="channels"):
        importance_versus_redundancy(importance, channel_similarity(torch.randn(1, 3, 4, 4)))


def test_agreement_of_identical_and_of_opposite_heatmaps():
    result = Saliency(TinyNet()).attribute(images(batch=2), target=0)
    same = compare_attributions(result, result)
    assert torch.allclose(same.rank_correlation, torch.ones(2))
    assert torch.allclose(same.top_overlap, torch.ones(2))
    flipped = type(result)(result.method, -result.attributions, -result.heatmaps, result.targets)
    opposite = compare_attributions(result, flipped)
    assert torch.allclose(opposite.rank_correlation, -torch.ones(2))
    assert torch.all(opposite.top_overlap == 0)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda m: IntegratedGradients(m, internal_batch_size=0), "internal_batch_size"),
        (lambda m: Occlusion(m, window_px=0), "window_px"),
        (lambda m: GradCAM(m, "conv7"), "no layer named"),
        (lambda m: Saliency("not a model"), "nn.Module"),
    ],
)
def test_bad_options(build, message):
    with pytest.raises(ValueError, match=message):
        build(TinyNet())


def test_target_out_of_range_and_oversized_window():
    model = TinyNet()
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        Saliency(model).attribute(images(), target=9)
    with pytest.raises(ValueError, match="larger than"):
        Occlusion(model, window_px=20).attribute(images(), target=0)
    assert attached_hook_count(model) == 0
