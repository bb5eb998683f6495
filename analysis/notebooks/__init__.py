"""Every analysis page of the lab as a runnable notebook (``nbformat``): the same model source, images, layer and
options, the page's explanation as markdown, and cells that call the library as the page does.

>>> text = page_notebook("Feature maps", "...", ModelSource("zoo", "resnet20-fashion-dense"),
...                      [NotebookImage("bag_00018.png")], {"layer": "conv1", ...})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .pages import RECIPES
from .source import IMPORTS, ModelSource, NotebookImage, images_code, model_code

__all__ = ["PAGES", "ModelSource", "NotebookImage", "page_notebook"]

PAGES = tuple(RECIPES)


def page_notebook(page: str, explanation: str, source: ModelSource, images: Sequence[NotebookImage],
                  options: Mapping[str, Any]) -> str:
    """The ``.ipynb`` text of lab page ``page`` (one of :data:`PAGES`) for ``source`` and ``images``."""
    if page not in RECIPES:
        raise ValueError(f"no notebook for page {page!r}; pages with one: {', '.join(PAGES)}")
    if not images:
        raise ValueError("a notebook needs at least one image")
    cells = [("markdown", f"# {page}\n\nWritten by the slimconv lab: this page's analysis with the library, for "
                          "the same model, images and choices.\n\n" + explanation),
             ("code", IMPORTS), ("markdown", "## The model and the images"),
             ("code", model_code(source)), ("code", images_code(images)), *RECIPES[page](options)]
    import nbformat  # imported here: the lab's cold start does not pay for it

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_markdown_cell(text) if kind == "markdown" else nbformat.v4.new_code_cell(text)
                      for kind, text in cells]
    return nbformat.writes(notebook)
