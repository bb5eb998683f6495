import pytest
import torch
from torch import nn

import analysis
import slimconv
from slimconv import FLGConv2d


class _TwoLayers(nn.Module):
    """conv ``copies`` makes 8 copies of one map (every pair alike); conv ``mixed`` is random."""

    def __init__(self) -> None:
        super().__init__()
        self.copies = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.mixed = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        with torch.no_grad():
            self.copies.weight.copy_(torch.randn(1, 1, 3, 3).expand(8, 1, 3, 3) * torch.arange(1, 9).view(8, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixed(self.copies(x))


def test_most_alike_layer_picks_the_copied_maps_and_says_why():
    torch.manual_seed(0)
    choice = analysis.most_alike_layer(_TwoLayers(), torch.randn(4, 1, 12, 12), threshold=0.8)
    assert choice.layer == "copies" and choice.score == pytest.approx(1.0)
    assert choice.scores["mixed"] < choice.score
    assert "copies" in choice.reason and "median" in choice.reason


def test_choosers_on_a_resnet_and_its_flgc_conversion():
    torch.manual_seed(0)
    model = slimconv.create_model("resnet20", in_chans=1).eval()
    filters = analysis.most_correlated_filters_layer(model)
    assert filters.score == max(filters.scores.values()) and len(filters.scores) == 21
    converted = slimconv.convert(model, "flgc", policy="3x3")
    names = [name for name, module in converted.named_modules() if isinstance(module, FLGConv2d)]
    uneven = analysis.most_uneven_flgc_layer(converted, names)
    assert uneven.layer in names and set(uneven.scores) == set(names)


def test_no_plain_filters_is_a_clear_error():
    with pytest.raises(ValueError, match="no layer qualifies"):
        analysis.most_correlated_filters_layer(nn.Sequential(nn.Conv2d(1, 1, 3)))


def test_most_alike_in_report_matches_the_forward_pass_chooser():
    torch.manual_seed(0)
    model, images = _TwoLayers(), torch.randn(4, 1, 12, 12)
    report = analysis.redundancy_report(model, images, threshold=0.8)
    from_report = analysis.most_alike_in_report(report)
    assert from_report.layer == analysis.most_alike_layer(model, images, threshold=0.8).layer == "copies"
    assert set(from_report.scores) == {"copies", "mixed"}


def test_the_profile_marks_a_layer_of_the_report_only():
    from analysis.figures import redundancy_profile_figure

    torch.manual_seed(0)
    report = analysis.redundancy_report(_TwoLayers(), torch.randn(2, 1, 12, 12))
    figure = redundancy_profile_figure(report, highlight="copies")
    assert "most alike: copies" in [text.get_text() for text in figure.axes[0].texts]
    with pytest.raises(ValueError, match="highlight must be one of"):
        redundancy_profile_figure(report, highlight="nowhere")


def test_placement_note_says_where_flgc_goes_without_projections():
    model = slimconv.create_model("resnet20", in_chans=1)
    assert "'except-stem'" in slimconv.placement_note("flgc", model)
    assert slimconv.placement_note("spconv", model) == ""
    _, report = slimconv.convert(model, "flgc", return_report=True)
    assert report.note == slimconv.placement_note("flgc", model)
