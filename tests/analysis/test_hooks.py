import pytest
import torch

from analysis import attached_hook_count, hook_guard, layer_hooks

from ._models import TinyNet, images


def test_hook_guard_removes_only_the_hooks_attached_inside():
    model = TinyNet()
    kept = model.conv1.register_forward_hook(lambda module, args, output: None)
    with pytest.raises(RuntimeError, match="inside"):
        with hook_guard(model):
            model.conv2.register_forward_hook(lambda module, args, output: None, with_kwargs=True)
            model.conv2.register_forward_pre_hook(lambda module, args: None)
            model.fc.register_full_backward_hook(lambda module, grad_in, grad_out: None)
            assert attached_hook_count(model) == 4
            raise RuntimeError("error inside the block")
    assert attached_hook_count(model) == 1
    assert model.conv2._forward_hooks_with_kwargs == {}
    kept.remove()
    assert attached_hook_count(model) == 0


def test_layer_hooks_can_replace_an_output_and_are_removed_after_an_error():
    model = TinyNet().eval()
    x = images()
    with layer_hooks(model, ["conv2"], lambda name, output: torch.zeros_like(output)):
        constant = model(x)
    assert torch.allclose(constant, model.fc.bias.expand_as(constant))  # ReLU(0) pooled = 0
    with pytest.raises(ValueError, match="planted"):
        with layer_hooks(model, ["conv1", "conv2"], lambda name, output: None):
            raise ValueError("planted")
    assert attached_hook_count(model) == 0


def test_a_layer_returning_a_tuple_is_refused_when_it_runs():
    class Pair(torch.nn.Module):
        def forward(self, x):
            return x, x

    model = torch.nn.Sequential(Pair())
    with pytest.raises(ValueError, match="not a tensor"):
        with layer_hooks(model, ["0"], lambda name, output: None):
            model(torch.zeros(1))
    assert attached_hook_count(model) == 0
