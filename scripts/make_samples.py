"""Write a few Fashion-MNIST test images per class as PNG files: the sample images the app ships.

    python scripts/make_samples.py                      # 5 per class into slimconv/models/samples/fashion-mnist
    python scripts/make_samples.py --per-class 3 --source data/fashion-mnist --out /tmp/samples

File names are ``<class>_<test-set index>.png`` (e.g. ``ankle-boot_00000.png``): the first images of
each class in test-set order, so a re-run writes the same files.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import torchvision
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from slimconv.train.datasets import DEBIAN_FASHION_MNIST  # noqa: E402
from slimconv.train.idx import IdxImages  # noqa: E402

DEFAULT_OUT = REPO / "slimconv" / "models" / "samples" / "fashion-mnist"
_NOTE = """# Fashion-MNIST samples

The first {per_class} test images of each class of Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017,
Zalando Research, MIT license), as 28x28 grayscale PNG files named `<class>_<test-set index>.png`.
Written by `scripts/make_samples.py`.
"""


def slug(name: str) -> str:
    """``"T-shirt/top"`` -> ``"t-shirt-top"``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def write_samples(source: Path, out: Path, per_class: int) -> list[Path]:
    """The first ``per_class`` test images of every class of the IDX folder ``source``, as PNG in ``out``."""
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    test = IdxImages(source, "test")
    classes = torchvision.datasets.FashionMNIST.classes
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for label, name in enumerate(classes):
        indices = (test.targets == label).nonzero().flatten()[:per_class].tolist()
        for index in indices:
            path = out / f"{slug(name)}_{index:05d}.png"
            Image.fromarray(test.images[index].numpy()).save(path, optimize=True)
            written.append(path)
    (out / "README.md").write_text(_NOTE.format(per_class=per_class), encoding="utf-8")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEBIAN_FASHION_MNIST, help="folder with the IDX files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--per-class", type=int, default=5)
    args = parser.parse_args(argv)
    written = write_samples(args.source, args.out, args.per_class)
    print(f"wrote {len(written)} images to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
