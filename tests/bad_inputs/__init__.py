"""Bad inputs as data: every damaged, foreign, hostile or unusual file the loaders are tested with.

One list per loader (:data:`IMAGE_CASES` for ``analysis.load_image``, :data:`CHECKPOINT_CASES` for
``slimconv.load_checkpoint``). The tests run every case, and ``scripts/bad_inputs_doc.py`` writes the
outcomes to ``docs/bad-inputs.md``, so the record cannot drift from what the code does.
"""

from .case import Case
from .checkpoints import CHECKPOINT_CASES, checkpoint_outcome
from .hostile_checkpoints import HOSTILE_CHECKPOINT_CASES
from .images import IMAGE_CASES, image_outcome

__all__ = ["CHECKPOINT_CASES", "HOSTILE_CHECKPOINT_CASES", "IMAGE_CASES", "Case", "checkpoint_outcome", "image_outcome"]
