"""The slimming plan: it follows measured redundancy, a budget steers it, and convert applies exactly it."""

import pytest
import torch
from torch import nn

import analysis
import slimconv
from analysis.plan import KEEP


class PlantedNet(nn.Module):
    """``stem`` (3 -> 4) whose 4 maps are repeated 4 times, so ``copied`` (16 -> 16, 3x3) reads 4 distinct
    channels out of 16; ``plain`` (16 -> 16, 3x3) reads 16 maps of independent filters."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.copied = nn.Conv2d(16, 16, 3, padding=1)
        self.plain = nn.Conv2d(16, 16, 3, padding=1)
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.copied(self.stem(x).repeat(1, 4, 1, 1))
        return self.head(self.plain(torch.tanh(x)).mean(dim=(2, 3)))


class NoiseNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.middle = nn.Conv2d(16, 16, 3, padding=1)
        self.last = nn.Conv2d(16, 16, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.middle(self.stem(x))).mean(dim=(2, 3))


def _noise(batch: int = 4, size: int = 12) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


def _ops(plan: analysis.SlimmingPlan) -> dict[str, str]:
    return {p.name: p.op for p in plan.layers}


@pytest.mark.slow
def test_a_plan_picks_the_layer_whose_inputs_are_duplicated_channels():
    plan = analysis.propose_plan(PlantedNet().eval(), _noise())
    copied = next(p for p in plan.layers if p.name == "copied")
    assert copied.op == "spconv" and copied.options == {"alpha": 0.25}  # 4 of 16 inputs distinct: alpha 1/4
    assert copied.risk == 0.0 and "4 of 16 input channels are distinct" in copied.reason
    assert _ops(plan)["plain"] == KEEP and "not redundant enough" in next(
        p.reason for p in plan.layers if p.name == "plain")
    assert plan.macs_after < plan.macs_before and copied.macs_after < copied.macs_before


def test_a_plan_on_random_noise_keeps_every_layer():
    plan = analysis.propose_plan(NoiseNet().eval(), _noise())
    assert set(_ops(plan).values()) == {KEEP}
    assert plan.mapping() == {} and plan.macs_after == plan.macs_before and plan.params_after == plan.params_before


@pytest.mark.slow
def test_a_budget_takes_changes_until_the_target_and_convert_measures_what_it_predicts():
    model = NoiseNet().eval()
    loose = analysis.propose_plan(model, _noise(), budget="macs", target=0.9)
    tight = analysis.propose_plan(model, _noise(), budget="macs", target=0.5)
    assert 0 < len(loose.changed) < len(tight.changed)
    assert tight.macs_after <= 0.5 * tight.macs_before < loose.macs_after <= 0.9 * loose.macs_before
    converted = slimconv.convert(model, tight.mapping())
    assert slimconv.count_params(converted) == tight.params_after
    assert slimconv.count_macs(slimconv.deploy(converted), (3, 12, 12)) == tight.macs_after


def test_applying_a_plan_changes_exactly_the_planned_layers():
    model = PlantedNet().eval()
    plan = {"copied": ("spconv", {"alpha": 0.25}), "plain": ("linearconv", {"variant": "lowrank", "rank": 3})}
    converted, report = slimconv.convert(model, plan, return_report=True)
    assert [layer.name for layer in report.replaced] == ["copied", "plain"]
    assert [layer.after for layer in report.replaced] == ["SPConv2d(alpha=0.25)",
                                                          "LinearConv2d(rank=3,variant=lowrank)"]
    assert isinstance(converted.copied, slimconv.SPConv2d) and converted.plain.rank == 3
    for name in ("stem", "head"):
        before, after = model.get_submodule(name), converted.get_submodule(name)
        assert type(before) is type(after) and torch.equal(before.weight, after.weight)
    assert isinstance(model.copied, nn.Conv2d)  # a copy was changed
    again = slimconv.convert(model, plan)  # the same plan builds the same model
    pairs = zip(converted.state_dict().values(), again.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_an_edited_plan_predicts_again_and_convert_refuses_a_bad_entry():
    model = PlantedNet().eval()
    plan = analysis.propose_plan(model, _noise())
    edited = analysis.edit_plan(plan, model, {"copied": (KEEP, {}), "plain": ("spconv", {"alpha": 0.5})})
    assert _ops(edited) == {"stem": KEEP, "copied": KEEP, "plain": "spconv"}
    plain = next(p for p in edited.layers if p.name == "plain")
    assert plain.macs_after < plain.macs_before and plain.reason == "set by hand"
    with pytest.raises(ValueError, match="plan\\['head'\\]: the layer is a Linear"):
        slimconv.convert(model, {"head": ("spconv", {})})
    with pytest.raises(ValueError, match="'beta' is not an option of 'spconv'"):
        slimconv.convert(model, {"copied": ("spconv", {"beta": 1})})
    with pytest.raises(ValueError, match="spconv cannot replace"):
        slimconv.convert(model, {"stem": ("spconv", {"alpha": 0.25})})  # 3 input channels: 0 representatives
    with pytest.raises(ValueError, match="takes no policy"):
        slimconv.convert(model, {"copied": ("spconv", {})}, policy="all")
    with pytest.raises(ValueError, match="budget needs a target"):
        analysis.propose_plan(model, _noise(), budget="macs")
