import re

import pytest
import torch

import slimconv
from lab.diagnostics import current_fingerprint, weights_fingerprint
from tests.app.apptest_helpers import assert_clean, run_app
from tests.app.checkpoints import TEST_ZOO


def diagnostics(app) -> tuple[str, int]:
    """The fingerprint and the hook count that the sidebar's Diagnostics expander shows."""
    expander = next(e for e in app.sidebar.expander if e.label == "Diagnostics")
    text = " ".join(markdown.value for markdown in expander.markdown)
    return (re.search(r"Fingerprint: `([0-9a-f]{12})`", text).group(1),
            int(re.search(r"Hooks attached: \*\*(\d+)\*\*", text).group(1)))


def test_fingerprint_names_the_weights_not_the_object():
    torch.manual_seed(0)
    model = slimconv.create_model("resnet20", in_chans=1)
    copy = slimconv.create_model("resnet20", in_chans=1)
    copy.load_state_dict(model.state_dict())
    assert re.fullmatch(r"[0-9a-f]{12}", weights_fingerprint(model))
    assert weights_fingerprint(copy) == weights_fingerprint(model)
    with torch.no_grad():
        copy.conv1.weight[0, 0, 0, 0] += 1e-6
    assert weights_fingerprint(copy) != weights_fingerprint(model)


def test_remembered_fingerprint_follows_in_place_and_replaced_weights():
    torch.manual_seed(0)
    model = slimconv.create_model("resnet20", in_chans=1)
    first = current_fingerprint(model)
    assert current_fingerprint(model) == first == weights_fingerprint(model)
    with torch.no_grad():
        model.fc.bias.add_(1.0)  # in place: the version counter moves
    assert current_fingerprint(model) == weights_fingerprint(model) != first
    model.fc.weight.data = model.fc.weight.data.clone() * 2  # replaced: another data pointer
    assert current_fingerprint(model) == weights_fingerprint(model)


@pytest.mark.slow
def test_sidebar_shows_the_checkpoint_fingerprint_and_no_hook_after_the_pages(zoo_env):
    name = next(iter(TEST_ZOO))
    expected = weights_fingerprint(slimconv.load_checkpoint(zoo_env / f"{name}.pt").model)
    app = run_app()
    assert diagnostics(app) == (expected, 0)
    for page in ("app_pages/feature_maps.py", "app_pages/spconv_split.py", "app_pages/overview.py"):
        app.switch_page(page).run()
        assert_clean(app)
    assert diagnostics(app) == (expected, 0)
    app.selectbox(key="zoo_name").set_value("resnet20-linearconv-fashion").run()
    assert diagnostics(app)[0] != expected
