"""Analysis results as the tables the pages show (and offer as CSV) and the notebooks they write print."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import pandas as pd
import torch

import analysis
import slimconv


def redundancy_scores_table(maps: torch.Tensor, scores: analysis.LayerRedundancyScores, image_names: Sequence[str],
                            metric: str, threshold: float) -> pd.DataFrame:
    """The layer's scores over all images (``scores``), then for each image of ``maps`` (``B x C x H x W``)."""
    per_image = [
        {"image": name} | asdict(analysis.layer_redundancy_scores(analysis.channel_similarity(maps[i : i + 1], metric),
                                                                  threshold))
        for i, name in enumerate(image_names)
    ]
    return pd.DataFrame([{"image": f"all {len(image_names)} images"} | asdict(scores), *per_image])


def ghost_pairs_table(pairs: analysis.GhostPairs) -> pd.DataFrame:
    return pd.DataFrame({
        "source channel": pairs.source_channels.tolist(), "target channel": pairs.target_channels.tolist(),
        "similarity": pairs.similarity.tolist(), "affine R2": pairs.affine_r2.tolist(),
        "depthwise R2": pairs.depthwise_r2.tolist(),
    })


def split_scores_table(what_if: analysis.SplitWhatIf) -> pd.DataFrame:
    """The positional and the similarity split: channels kept, variance kept, mean rebuild R^2."""
    return pd.DataFrame([
        {"split": score.name, "representative channels": len(score.representative_channels),
         "variance kept": score.variance_kept_share,
         "mean R2 of the redundant channels": float(score.redundant_r2.mean()),
         "mean best single-channel R2": float(score.best_single_r2.mean())}
        for score in (what_if.positional, what_if.by_similarity)
    ])


def replaced_layers_table(report: slimconv.ConvertReport) -> pd.DataFrame:
    """Every layer ``convert`` replaced: what it was, what it is now, and its parameters before and after."""
    return pd.DataFrame([{"layer": layer.name, "was": layer.before, "now": layer.after,
                          "params before": layer.params_before, "params after": layer.params_after}
                         for layer in report.replaced])


def plan_cka_table(outcome: analysis.PlanOutcome, plan: analysis.SlimmingPlan) -> pd.DataFrame:
    """Each convolution's CKA to the original's output, and whether the plan replaced it."""
    changed = {p.name for p in plan.changed}
    return pd.DataFrame({"layer": list(outcome.layer_cka), "CKA to the original": list(outcome.layer_cka.values()),
                         "replaced": [name in changed for name in outcome.layer_cka]})
