"""A short fine-tune of a model that already exists (e.g. one a slimming plan converted), with the training
loop of :mod:`slimconv.train.loop` (the one ``train`` runs), on one process, writing no files."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._validate import nn_module
from .config import TrainConfig
from .datasets import random_subset
from .distributed import DistContext, resolve_device
from .loop import Engine
from .optim import build_optimizer, build_scheduler
from .regularizers import OperatorLosses
from .rng import seed_everything
from .run import _data, _epoch_record, _loaders

EpochCallback = Callable[[dict[str, Any]], None]
#: Where the lab and its notebooks keep Fashion-MNIST when it is not found locally (Debian's copy is found first).
DATA_DIR = Path.home() / ".cache" / "slimconv" / "data"


def short_finetune_config(epochs: int, subset: int, *, device: str | None = None, data_dir: str | Path = DATA_DIR
                          ) -> TrainConfig:
    """The lab's short fine-tune on Fashion-MNIST: ``epochs`` over ``subset`` training images, Adam at 1e-3 in
    batches of 64, no warm-up, one process, on ``device`` (``None``: what the machine has). What the Plan page
    runs, and its notebook."""
    return TrainConfig(model="resnet20", dataset="fashion-mnist", data_dir=str(data_dir), download=True,
                       subset=int(subset), epochs=int(epochs), batch_size=64, optimizer="adam", lr=1e-3,
                       warmup_epochs=0.0, progress=False, device=device, workers=0)


def finetune(model: nn.Module, config: TrainConfig, *, on_epoch_end: EpochCallback | None = None
             ) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train a copy of ``model`` for ``config.epochs`` on ``config.dataset`` (``config.subset`` images of each
    split; ``config.model``/``op``/``out`` are not used). The model must take the dataset's inputs (same
    channels and size, e.g. ``config.image_size``/``in_chans`` from the checkpoint's train config).
    ``on_epoch_end(record)`` after each epoch (the keys of ``train``'s metrics log). Returns the trained copy,
    in eval mode on the config's device, and the per-epoch records."""
    nn_module("model", model)
    device = resolve_device(config.device, 0)
    context = DistContext()
    seed_everything(config.seed)
    data = _data(config, context)
    train_set = random_subset(data.train, config.subset, config.seed)
    test_set = random_subset(data.test, config.subset, config.seed + 1)
    train_loader, sampler, test_loader = _loaders(train_set, test_set, config, context, 0, device)
    core = copy.deepcopy(model).to(device)
    optimizer = build_optimizer(core, config)
    engine = Engine(model=core, core=core, optimizer=optimizer,
                    scheduler=build_scheduler(optimizer, config, len(train_loader)),
                    scaler=torch.amp.GradScaler(device.type, enabled=False),
                    criterion=nn.CrossEntropyLoss(label_smoothing=config.label_smoothing),
                    losses=OperatorLosses(core, config), context=context, device=device, amp=False,
                    channels_last=False)
    history: list[dict[str, Any]] = []
    for epoch in range(config.epochs):
        sampler.set_epoch(epoch)
        train_stats = engine.train_epoch(train_loader, epoch, config.epochs, config.progress)
        record = _epoch_record(epoch, train_stats, engine.evaluate(test_loader), engine.last_lr)
        history.append(record)
        if on_epoch_end is not None:
            on_epoch_end(record)
    return core.eval(), history
