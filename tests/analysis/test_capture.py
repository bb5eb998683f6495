import pytest
import torch
import torch.nn.functional as F

from analysis import attached_hook_count, bound_map_size, capture_activations

from ._models import FailingNet, TinyNet, images


def test_captures_outputs_of_named_layers_on_cpu_float32():
    model = TinyNet().eval()
    x = images()
    captured = capture_activations(model, x, ["conv1", "conv2"])
    assert captured.activations["conv1"].shape == (2, 8, 12, 12)
    assert captured.activations["conv1"].dtype == torch.float32
    assert torch.allclose(captured.activations["conv1"], model.conv1(x), atol=1e-6)
    assert torch.allclose(captured.output, model(x), atol=1e-6)
    assert captured.gradients == {} and captured.targets is None
    assert not captured.was_subsampled("conv1")


def test_capture_is_not_changed_by_a_later_in_place_relu():
    model = TinyNet().eval()
    x = images()
    captured = capture_activations(model, x, ["bn1"])  # bn1's output is then ReLU'd in place
    expected = model.bn1(model.conv1(x))
    assert (captured.activations["bn1"] < 0).any()
    assert torch.allclose(captured.activations["bn1"], expected, atol=1e-6)


def test_captures_layer_inputs():
    model = TinyNet().eval()
    x = images()
    captured = capture_activations(model, x, ["conv2"], of="input")
    expected = torch.relu(model.bn1(model.conv1(x)))
    assert torch.allclose(captured.activations["conv2"], expected, atol=1e-6)


def test_gradients_equal_autograd_of_the_target_score():
    model = TinyNet().eval()
    x = images()
    captured = capture_activations(model, x, ["bn1", "conv2"], with_gradients=True, target=[1, 3])
    assert captured.targets.tolist() == [1, 3]
    # reference: differentiate w.r.t. conv2's output by hand
    conv2_out = model.conv2(torch.relu(model.bn1(model.conv1(x)))).detach().requires_grad_(True)
    logits = model.fc(model.pool(torch.relu(conv2_out)).flatten(1))
    (logits[0, 1] + logits[1, 3]).backward()
    assert torch.allclose(captured.gradients["conv2"], conv2_out.grad, atol=1e-6)
    assert captured.gradients["bn1"].shape == captured.activations["bn1"].shape
    assert captured.gradients["bn1"].abs().sum() > 0


def test_default_target_is_the_predicted_class():
    model = TinyNet().eval()
    x = images(batch=3)
    captured = capture_activations(model, x, ["conv2"], with_gradients=True)
    assert captured.targets.tolist() == model(x).argmax(1).tolist()


def test_large_maps_are_pooled_within_the_bound_keeping_channel_means():
    maps = torch.randn(2, 16, 40, 30)
    bounded = bound_map_size(maps, max_values_per_image=16 * 100)
    assert bounded.shape[:2] == (2, 16)
    assert bounded[0].numel() <= 16 * 100
    assert bounded.shape[2] / bounded.shape[3] == pytest.approx(40 / 30, rel=0.15)
    assert torch.allclose(bounded.mean((2, 3)), maps.mean((2, 3)), atol=0.05)
    assert bound_map_size(maps, 16 * 40 * 30) is maps


def test_capture_reports_subsampling():
    model = TinyNet().eval()
    captured = capture_activations(model, images(size=20), ["conv1"], max_values_per_image=8 * 25)
    assert captured.activations["conv1"].shape == (2, 8, 5, 5)
    assert captured.original_sizes["conv1"] == (20, 20)
    assert captured.was_subsampled("conv1")


def test_a_bound_below_the_channel_count_is_refused():
    with pytest.raises(ValueError, match="channels"):
        bound_map_size(torch.zeros(1, 2048, 7, 7), max_values_per_image=1000)


def test_hooks_are_removed_after_an_error_and_modes_restored():
    model = FailingNet(fail_on_call=1).train()
    with pytest.raises(RuntimeError, match="planted failure"):
        capture_activations(model, images(), ["conv1", "conv2"], with_gradients=True)
    assert attached_hook_count(model) == 0
    assert model.training and model.bn1.training


def test_eval_mode_is_used_and_restored():
    model = TinyNet().train()
    running_mean = model.bn1.running_mean.clone()
    capture_activations(model, images(), ["conv1"])
    assert torch.equal(model.bn1.running_mean, running_mean)  # no batch statistics were used
    assert model.training


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(layer_names=["conv9"]), "no layer named 'conv9'"),
        (dict(layer_names=[]), "empty"),
        (dict(layer_names=["conv1", "conv1"]), "twice"),
        (dict(layer_names=["conv1"], of="middle"), "of must be one of"),
        (dict(layer_names=["conv1"], of="input", with_gradients=True), "outputs only"),
        (dict(layer_names=["conv1"], max_values_per_image=0), "max_values_per_image"),
        (dict(layer_names=["conv1"], with_gradients=True, target=7), r"\[0, 3\]"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    model = TinyNet()
    with pytest.raises(ValueError, match=message):
        capture_activations(model, images(), **kwargs)
    assert attached_hook_count(model) == 0


def test_a_layer_that_runs_twice_is_refused():
    conv = torch.nn.Conv2d(3, 3, 1)
    model = torch.nn.Sequential(conv, conv)
    with pytest.raises(ValueError, match="ran twice"):
        capture_activations(model, images(), ["0"])
    assert attached_hook_count(model) == 0


def test_images_must_be_a_batch_of_maps():
    with pytest.raises(ValueError, match="B x C x H x W"):
        capture_activations(TinyNet(), torch.zeros(3, 12), ["conv1"])


def test_grad_cam_weights_survive_pooling():
    model = TinyNet().eval()
    x = images(size=16)
    full = capture_activations(model, x, ["conv2"], with_gradients=True, target=0)
    pooled = capture_activations(model, x, ["conv2"], with_gradients=True, target=0, max_values_per_image=8 * 16)
    assert torch.allclose(full.gradients["conv2"].mean((2, 3)), pooled.gradients["conv2"].mean((2, 3)), atol=1e-6)
    assert torch.allclose(F.adaptive_avg_pool2d(full.activations["conv2"], 4), pooled.activations["conv2"], atol=1e-6)
