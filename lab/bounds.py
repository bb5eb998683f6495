"""Resource bounds of the app, in one place: how much one analysis takes in and how much one figure draws.

- Images: at most :data:`MAX_IMAGES` per analysis (the sidebar keeps the first ones and says so).
- Resolution: a loaded image is already downscaled to a longest side of about 2048 px by the image loader;
  the analyses then run at the model's own input size, which every image is preprocessed to
  (:func:`lab.selection.model_batch` checks it), so a large upload costs no more than a small one.
- Drawing: a feature-map grid shows at most :data:`MAX_GRID_CHANNELS` maps, a filter correlation heatmap at
  most :data:`MAX_HEATMAP_FILTERS` filters, the Overview at most :data:`MAX_IMAGES_SHOWN` images; the page
  says when it shows fewer than there are (:func:`shown_of`).
"""

from __future__ import annotations

#: Images one analysis runs on: room for the default set (16 Fashion-MNIST images and a photo, see
#: :func:`lab.images.default_sample_names`) and a few more; 24 images of 224 x 224 keep a forward pass small.
MAX_IMAGES = 24
#: Feature maps drawn in one grid (8 x 8 maps stay readable; more become specks).
MAX_GRID_CHANNELS = 64
#: Filters drawn in a correlation heatmap (beyond 256 the cells are smaller than a pixel of the figure).
MAX_HEATMAP_FILTERS = 256
#: Images (with their names and the model's input) drawn on the Overview: all of them, so that the photo of the
#: default set and its out-of-distribution note are seen together.
MAX_IMAGES_SHOWN = MAX_IMAGES


def shown_of(shown: int, total: int, what: str) -> str | None:
    """A note like "Showing 64 of 256 channels" when a figure draws only ``shown`` of ``total`` ``what``;
    ``None`` when it draws them all."""
    return f"Showing {shown} of {total} {what}." if total > shown else None
