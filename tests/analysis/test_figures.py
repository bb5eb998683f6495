import io

import matplotlib.pyplot as plt
import matplotlib.text
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

import analysis
import slimconv
from analysis import figures

from ._models import TinyNet, images


@pytest.fixture(scope="module")
def results() -> dict[str, tuple]:
    """One small instance of every result type, with the builder that draws it."""
    torch.manual_seed(0)
    model = TinyNet().eval()
    x = images(batch=4, size=12)
    captured = analysis.capture_activations(model, x, ["conv1"])
    maps = captured.activations["conv1"]
    maps[:, 5] = -2 * maps[:, 1]
    similarity = analysis.channel_similarity(maps)
    clusters = analysis.cluster_channels(similarity, threshold=0.5)
    weight = torch.randn(8, 4, 3, 3)
    spconv_layer = slimconv.create_conv("spconv", 8, 8, 3).eval()
    flgc_layer = slimconv.create_conv("flgc", 8, 12, 3, groups=3)
    flgc_later = slimconv.create_conv("flgc", 8, 12, 3, groups=3)
    pedconv_layer = slimconv.create_conv("pedconv", 8, 6, 3)
    saliency = analysis.Saliency(model).attribute(x, target=0)
    grad_cam = analysis.GradCAM(model, "conv2").attribute(x, target=0)
    importance = analysis.channel_importance(model, "conv1", x)
    report = analysis.redundancy_report(model, x[:1])
    return {
        "similarity": (figures.similarity_heatmap_figure, (similarity, clusters), {"layer_name": "conv1"}),
        "similarity one image": (figures.similarity_heatmap_figure, (analysis.channel_similarity(maps[0]),), {}),
        "feature maps": (figures.feature_map_grid_figure, (maps[0],), {"channels": clusters.order}),
        "ghost pairs": (figures.ghost_pairs_figure, (analysis.ghost_pairs(maps, num_pairs=3),), {}),
        "profile": (figures.redundancy_profile_figure, (report,), {"model_name": "tiny"}),
        "cka": (figures.cka_figure, (analysis.model_cka_map(model, model, x),), {}),
        "filter correlation": (figures.filter_correlation_figure, (analysis.filter_correlation(weight),), {}),
        "spectrum": (figures.spectrum_figure, (analysis.filter_spectrum(weight),), {}),
        "primaries": (figures.primaries_figure, (analysis.primaries_needed(weight),), {}),
        "linearconv": (
            figures.linearconv_figure,
            (analysis.inspect_linearconv(slimconv.create_conv("linearconv", 4, 8, 3)),),
            {},
        ),
        "spconv": (figures.spconv_figure, (analysis.inspect_spconv(spconv_layer, maps),), {"image_index": 1}),
        "split what-if": (figures.split_what_if_figure, (analysis.split_what_if(maps, 0.5),), {}),
        "flgc groups": (figures.flgc_groups_figure, (analysis.inspect_flgc(flgc_layer),), {}),
        "flgc switches": (figures.flgc_switches_figure, (analysis.flgc_switches(flgc_layer, flgc_later),), {}),
        "dense grouping": (figures.dense_grouping_figure, (analysis.dense_grouping(weight, 2),), {"layer_name": "c"}),
        "pedconv": (figures.pedconv_figure, (analysis.inspect_pedconv(pedconv_layer, maps),), {}),
        "attribution overlay": (figures.attribution_overlay_figure, (x, [saliency, grad_cam]), {"max_images": 2}),
        "attribution comparison": (
            figures.attribution_comparison_figure,
            (x, saliency, grad_cam),
            {"agreement": analysis.compare_attributions(saliency, grad_cam), "max_images": 2},
        ),
        "importance vs redundancy": (
            figures.importance_redundancy_figure,
            (analysis.importance_versus_redundancy(importance, similarity),),
            {},
        ),
    }


BUILDERS = [
    "similarity",
    "similarity one image",
    "feature maps",
    "ghost pairs",
    "profile",
    "cka",
    "filter correlation",
    "spectrum",
    "primaries",
    "linearconv",
    "spconv",
    "split what-if",
    "flgc groups",
    "flgc switches",
    "dense grouping",
    "pedconv",
    "attribution overlay",
    "attribution comparison",
    "importance vs redundancy",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILDERS)
def test_every_builder_returns_a_titled_figure_outside_pyplot(results, name):
    builder, args, kwargs = results[name]
    figures_before = plt.get_fignums()
    figure = builder(*args, **kwargs)
    assert isinstance(figure, Figure)
    assert plt.get_fignums() == figures_before  # not registered with pyplot: nothing to close
    assert figure.get_suptitle()
    assert figure.axes
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=30)
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_public_builder_is_exercised(results):
    assert {builder.__name__ for builder, _, _ in results.values()} == {
        name for name in figures.__all__ if name.endswith("_figure")}
    assert set(BUILDERS) == set(results)


def test_feature_map_grid_is_one_image():
    figure = figures.feature_map_grid_figure(torch.randn(200, 5, 5), max_maps=150)
    assert len(figure.axes[0].images) == 1
    assert "150 of 200" in figure.get_suptitle()


def test_heatmap_outlines_each_cluster_of_two_or_more():
    maps = torch.randn(2, 6, 5, 5)
    maps[:, 3] = maps[:, 0]
    maps[:, 4] = maps[:, 0] * 3
    maps[:, 5] = -maps[:, 1]
    similarity = analysis.channel_similarity(maps)
    clusters = analysis.cluster_channels(similarity, threshold=0.9)
    figure = figures.similarity_heatmap_figure(similarity, clusters)
    assert len(figure.axes[0].patches) == 2  # blocks {0, 3, 4} and {1, 5}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: figures.feature_map_grid_figure(torch.randn(2, 3, 4, 4)), "C x H x W"),
        (lambda: figures.feature_map_grid_figure(torch.randn(3, 4, 4), channels=[5]), "channels must be"),
        (lambda: figures.feature_map_grid_figure(torch.randn(3, 4, 4), max_maps=0), "max_maps"),
        (
            lambda: figures.similarity_heatmap_figure(
                analysis.channel_similarity(torch.randn(3, 4, 4)), analysis.cluster_channels(torch.eye(2))
            ),
            "clusters cover",
        ),
        (lambda: figures.attribution_overlay_figure(torch.randn(1, 3, 8, 8), []), "results is empty"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_overlay_checks_that_images_match_the_heatmaps():
    result = analysis.Saliency(nn.Sequential(nn.Flatten(), nn.Linear(48, 2))).attribute(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="do not match"):
        figures.attribution_overlay_figure(torch.randn(1, 3, 5, 5), [result])


def test_make_legible_raises_small_text_for_the_displayed_width():
    figure = figures.filter_correlation_figure(analysis.filter_correlation(torch.randn(8, 2, 3, 3)))
    width_in = figure.get_size_inches()[0]
    figures.make_legible(figure, displayed_width_px=400)
    figure.canvas.draw()
    smallest_px = min(text.get_fontsize() for text in figure.findobj(matplotlib.text.Text) if text.get_text()
                      and text.get_visible()) * 400 / (72 * width_in)
    assert smallest_px >= 10 - 1e-6


@pytest.mark.parametrize("name", ["ghost_pairs", "spectrum", "primaries", "correlation", "heatmap"])
def test_texts_are_legible_in_the_saved_image_at_its_shown_width(name):
    """Saved with bbox_inches="tight" (as the app does), an image is as wide as its texts' box: the smallest text
    still shows at 10 px or more once the image is scaled to the width it is shown at."""
    import io

    from PIL import Image

    torch.manual_seed(0)
    maps, weight = torch.randn(4, 16, 8, 8), torch.randn(32, 16, 3, 3)
    build = {"ghost_pairs": lambda: figures.ghost_pairs_figure(analysis.ghost_pairs(maps, num_pairs=6), max_pairs=6),
             "spectrum": lambda: figures.spectrum_figure(analysis.filter_spectrum(weight), layer_name="conv1"),
             "primaries": lambda: figures.primaries_figure(analysis.primaries_needed(weight), layer_name="conv1"),
             "correlation": lambda: figures.filter_correlation_figure(analysis.filter_correlation(weight)),
             "heatmap": lambda: figures.similarity_heatmap_figure(analysis.channel_similarity(maps))}[name]
    shown_px, dpi = 450, 110
    figure = figures.make_legible(build(), shown_px)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    saved_px = Image.open(buffer).width
    texts = [text for text in figure.findobj(matplotlib.text.Text) if text.get_text() and text.get_visible()]
    smallest_px = min(text.get_fontsize() for text in texts) * dpi / 72 * shown_px / saved_px
    assert smallest_px >= 9.9, smallest_px


def test_make_legible_fixes_the_layout_it_drew_so_saving_gives_the_laid_out_image():
    """Saving does not lay the figure out again (a constrained layout of 30 axes costs a draw): the image saved
    from the fixed layout has the size a fresh layout at the final text sizes gives (constrained layout itself
    moves a few pixels from one draw to the next)."""
    import io

    from PIL import Image

    def saved_size(figure) -> tuple[int, int]:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=60, bbox_inches="tight")
        return Image.open(buffer).size

    torch.manual_seed(0)
    maps = torch.randn(4, 16, 8, 8)
    figure = figures.make_legible(figures.ghost_pairs_figure(analysis.ghost_pairs(maps, num_pairs=4), max_pairs=4), 400)
    assert type(figure.get_layout_engine()).__name__ == "PlaceHolderLayoutEngine"  # "none": nothing laid out again
    fixed = saved_size(figure)
    figure.set_layout_engine("constrained")
    fresh = saved_size(figure)
    assert all(abs(a - b) <= 3 for a, b in zip(fixed, fresh, strict=True)), (fixed, fresh)


@pytest.mark.parametrize(("name", "shown_px"), [("heatmap", 548), ("ghost_pairs", 548), ("correlation", 548),
                                               ("pedconv", 940), ("dense_grouping", 940)])
def test_raised_panel_titles_do_not_run_into_each_other(name, shown_px):
    """Raised to 10 px at the width the app shows them (548: a 3/5 column of the 1400-px window; 940: the whole
    column), side-by-side panels' titles stay apart."""
    torch.manual_seed(0)
    maps, weight = torch.randn(17, 16, 8, 8), torch.randn(32, 16, 3, 3)
    pedconv = slimconv.create_conv("pedconv", 16, 32, 3)
    build = {"heatmap": lambda: figures.similarity_heatmap_figure(analysis.channel_similarity(maps)),
             "ghost_pairs": lambda: figures.ghost_pairs_figure(analysis.ghost_pairs(maps, num_pairs=6), max_pairs=6),
             "correlation": lambda: figures.filter_correlation_figure(analysis.filter_correlation(weight)),
             "pedconv": lambda: figures.pedconv_figure(analysis.inspect_pedconv(pedconv, maps), layer_name="a.b"),
             "dense_grouping": lambda: figures.dense_grouping_figure(analysis.dense_grouping(weight, 4))}[name]
    figure = figures.make_legible(build(), shown_px)
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    boxes = [axes.title.get_window_extent(renderer) for axes in figure.axes if axes.title.get_text()]
    for i, first in enumerate(boxes):
        for second in boxes[i + 1:]:
            assert not first.overlaps(second), (first, second)


@pytest.mark.parametrize(("values", "least_labels"), [([1.88, 1.2, 0.9, 0.5, 0.3, 0.17], 3), ([50, 5, 0.5, 0.05], 3)])
def test_the_spectrum_axis_has_labels_to_read_it_by(values, least_labels):
    """Singular values within about a decade cross at most one decade tick: the 2x and 5x ticks are labelled too,
    so the axis never shows a single number (wider spectra: the decade ticks alone)."""
    weight = torch.diag(torch.tensor(values)).reshape(len(values), len(values), 1, 1)
    figure = figures.spectrum_figure(analysis.filter_spectrum(weight))
    figure.canvas.draw()
    axes = figure.axes[0]
    low, high = axes.get_ylim()
    labels = [label.get_text() for label in axes.get_yticklabels() + axes.get_yticklabels(minor=True)
              if label.get_text() and low <= label.get_position()[1] <= high]
    assert len(labels) >= least_labels, labels
    assert len(labels) == len(set(labels))
