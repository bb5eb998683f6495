"""A whole training run: data, model, resume, epochs, checkpoints, metrics log and the final model.

Files in ``config.out``: ``checkpoint.pt`` (written atomically after every epoch: weights, metadata
and the training state that ``--resume`` continues from), ``metrics.jsonl`` (one line per epoch),
and at the end ``model.pt`` (weights and metadata only, what ``load_checkpoint`` and the app read),
``model.safetensors`` (with ``safetensors=True``) and ``summary.json``.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from ..convert import default_policy
from ..deploy import deploy_form
from ..errors import NonFiniteLossError
from ..latency import measure_latency
from ..models import create_model
from ..pretrained import (
    CheckpointContents,
    CheckpointMeta,
    deployed_macs,
    export_safetensors,
    read_checkpoint,
    save_checkpoint,
    write_atomically,
)
from ..profile import count_params
from .config import TrainConfig
from .datasets import TrainData, load_data, random_subset
from .distributed import (
    DistContext,
    barrier,
    broadcast_buffers,
    gather_objects,
    init_distributed,
    local_rank_from_env,
    resolve_device,
    shutdown,
    wrap_model,
)
from .loop import Engine, EpochStats
from .metrics import MetricsLog
from .optim import build_optimizer, build_scheduler
from .out_folder import check_free_space, check_out_folder, checkpoint_bytes_needed, remove_stale_temporaries
from .regularizers import OperatorLosses
from .resume import apply_training_state, check_resumable, restore_rank_rng, state_sha256, training_state
from .rng import capture_rng_state, seed_everything

CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.pt"
METRICS_NAME = "metrics.jsonl"
SUMMARY_NAME = "summary.json"

EpochCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainResult:
    """The outcome of ``train``: final metrics, per-epoch history and where the files are.

    ``state_sha256`` holds every process's fingerprint of its final weights and buffers, in rank
    order; the processes of a distributed run agree when all entries are equal.
    """

    out: Path
    model_path: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    params: int
    macs: int
    state_sha256: list[str]
    seconds: float


def _log(context: DistContext, message: str) -> None:
    if context.is_main:
        tqdm.write(message)


def _runtime(config: TrainConfig, device: torch.device) -> tuple[bool, bool, int]:
    """AMP, channels_last and loader workers: the config's, or what suits the device."""
    cuda = device.type == "cuda"
    # On CPU, --amp is bfloat16 autocast (fast where the CPU has AMX/AVX-512 BF16); it stays opt-in.
    amp = cuda if config.amp is None else config.amp
    channels_last = cuda if config.channels_last is None else config.channels_last
    workers = (4 if cuda else 0) if config.workers is None else config.workers
    return amp, channels_last, workers


def _previous_run(config: TrainConfig, out: Path, context: DistContext) -> CheckpointContents | None:
    path = out / CHECKPOINT_NAME
    if not path.exists():
        if config.resume:
            _log(context, f"no checkpoint in {out}: starting a new run")
        return None
    if not config.resume:
        raise ValueError(f"{out} already holds a run ({path.name}); pass --resume to continue it, or another --out")
    return read_checkpoint(path)


def _prepare_out(out: Path, context: DistContext) -> None:
    """Before any work: ``--out`` must be a writable folder with room (one-line ``OutFolderError``), and the
    temporaries of a process killed while writing (see ``write_atomically``) are removed, new run or resume."""
    if context.is_main:
        check_out_folder(out)
        for leftover in remove_stale_temporaries(out):
            _log(context, f"removed {leftover.name}, left by a run killed while writing")
    barrier(context)


def _data(config: TrainConfig, context: DistContext) -> TrainData:
    """Rank 0 loads (and downloads) first; the others wait, then read what it fetched."""
    if not context.is_main:
        barrier(context)
    data = load_data(config.dataset, config.data_dir, download=config.download, image_size=config.image_size,
                     in_chans=config.in_chans)
    if context.is_main:
        barrier(context)
    return data


def _loaders(train_set: Dataset, test_set: Dataset, config: TrainConfig, context: DistContext, workers: int,
             device: torch.device) -> tuple[DataLoader, DistributedSampler, DataLoader]:
    if len(train_set) < config.batch_size * context.world_size:
        raise ValueError(f"{len(train_set)} training images do not fill one batch of {config.batch_size} per "
                         f"process x {context.world_size}; lower --batch-size or raise --subset")
    # The same sampler with one replica keeps the data order a function of (seed, epoch) alone.
    sampler = DistributedSampler(train_set, num_replicas=context.world_size, rank=context.rank, shuffle=True,
                                 seed=config.seed, drop_last=True)
    common = dict(batch_size=config.batch_size, num_workers=workers, pin_memory=device.type == "cuda")
    train_loader = DataLoader(train_set, sampler=sampler, drop_last=True, **common)
    shard = Subset(test_set, range(context.rank, len(test_set), context.world_size))  # exact, no padding
    test_loader = DataLoader(shard, shuffle=False, **common)
    return train_loader, sampler, test_loader


def _build_model(config: TrainConfig, data: TrainData) -> nn.Module:
    return create_model(config.model, op=config.op, policy=config.policy, in_chans=data.input.in_chans,
                        num_classes=len(data.classes), **config.options)


def _epoch_record(epoch: int, train: EpochStats, test: EpochStats, lr: float) -> dict[str, Any]:
    return {
        "epoch": epoch + 1, "train_loss": train.loss, "train_accuracy": train.accuracy, "test_loss": test.loss,
        "test_accuracy": test.accuracy, "lr": lr, "train_time_s": round(train.seconds, 3),
        "eval_time_s": round(test.seconds, 3), "epoch_time_s": round(train.seconds + test.seconds, 3),
    }


def _final_metrics(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("test_accuracy", "test_loss", "train_accuracy", "train_loss")
    return {**{key: record[key] for key in keys}, "epochs": record["epoch"]}


def train(config: TrainConfig, *, on_epoch_end: EpochCallback | None = None) -> TrainResult:
    """Run (or, with ``config.resume``, continue) a training run; see the module docstring for its files.

    Under torchrun every process calls this; rank 0 writes the files. ``on_epoch_end(record)`` is
    called on every process after each epoch's checkpoint is on disk. Seeds the global random
    generators; sets torch's CPU threads to ``config.threads`` for the run. Raises
    ``NonFiniteLossError`` (keeping the last good checkpoint), ``CheckpointError`` (bad resume),
    ``DatasetUnavailableError`` or ``ValueError``.
    """
    previous_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device, local_rank_from_env())
    context = init_distributed(device)
    try:
        return _train(config, context, device, on_epoch_end)
    finally:
        shutdown(context)
        torch.set_num_threads(previous_threads)


def _train(config: TrainConfig, context: DistContext, device: torch.device,
           on_epoch_end: EpochCallback | None) -> TrainResult:
    started = time.perf_counter()
    out = Path(config.out)
    amp, channels_last, workers = _runtime(config, device)
    _prepare_out(out, context)
    previous = _previous_run(config, out, context)
    training = None if previous is None else check_resumable(previous, config, context)
    if training is not None and training["config"].get("epochs") != config.epochs:
        _log(context, f"--epochs {config.epochs} (the saved run had {training['config'].get('epochs')}): the "
             "learning-rate schedule is recomputed for the new total")

    seed_everything(config.seed)
    data = _data(config, context)
    train_set = random_subset(data.train, config.subset, config.seed)
    test_set = random_subset(data.test, config.subset, config.seed + 1)
    train_loader, sampler, test_loader = _loaders(train_set, test_set, config, context, workers, device)
    core = _build_model(config, data)
    policy = None
    if config.op:  # the placement convert() used: the default one depends on the model's layers
        with torch.random.fork_rng(devices=[]):  # building it must not move the training's random stream
            dense = create_model(config.model, in_chans=data.input.in_chans, num_classes=len(data.classes))
        policy = config.policy or default_policy(config.op, dense)
    macs = deployed_macs(core, data.input.input_size)
    if context.is_main:  # before the first epoch: room for the checkpoints of this model
        check_free_space(out, checkpoint_bytes_needed(sum(t.numel() * t.element_size()
                                                          for t in core.state_dict().values())))
    core = core.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    losses = OperatorLosses(core, config)
    optimizer = build_optimizer(core, config)
    engine = Engine(
        model=core, core=core, optimizer=optimizer, scheduler=build_scheduler(optimizer, config, len(train_loader)),
        scaler=torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda"),
        criterion=nn.CrossEntropyLoss(label_smoothing=config.label_smoothing), losses=losses, context=context,
        device=device, amp=amp, channels_last=channels_last,
    )
    log = MetricsLog(out / METRICS_NAME)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    if training is not None:
        start_epoch = apply_training_state(engine, previous.state_dict, training)
        history = list(training["history"])
        if context.is_main:
            log.rewrite(history)
        _log(context, f"resuming {out} after epoch {start_epoch} (optimiser step {engine.step})")
    engine.model = wrap_model(core, context, device)

    def make_meta(metrics: dict[str, Any]) -> CheckpointMeta:
        return CheckpointMeta.for_model(core, model_name=config.model, op=config.op, policy=policy,
                                        options=config.options, input=data.input, classes=data.classes,
                                        dataset=data.name, metrics=metrics, train_config=config.to_dict(), macs=macs)

    _log(context, f"{config.model}{' + ' + config.op if config.op else ''} on {data.name}: {len(train_set)} train / "
         f"{len(test_set)} test images, {count_params(core):,} params, {macs / 1e6:.2f} M MACs, {device}, "
         f"{context.world_size} process(es), {torch.get_num_threads()} threads, amp={amp}")
    for line in losses.describe():
        _log(context, f"regulariser: {line}")

    if training is not None:
        restore_rank_rng(training, context)  # last: nothing may draw random numbers before the epochs
    elif context.rank > 0:
        seed_everything(config.seed + context.rank)  # own augmentation stream; weights come from rank 0
    for epoch in range(start_epoch, config.epochs):
        sampler.set_epoch(epoch)
        try:
            train_stats = engine.train_epoch(train_loader, epoch, config.epochs, config.progress)
        except NonFiniteLossError as error:
            kept = f"the last good checkpoint {out / CHECKPOINT_NAME} (epoch {epoch}) is kept" if epoch else \
                "no checkpoint was written"
            raise NonFiniteLossError(f"{error}; {kept}. Lower --lr, raise --warmup-epochs or turn off --amp, then "
                                     "start again (or --resume from the kept checkpoint)") from None
        broadcast_buffers(core, context)
        test_stats = engine.evaluate(test_loader)
        record = _epoch_record(epoch, train_stats, test_stats, engine.last_lr)
        history.append(record)
        rng_states = gather_objects(capture_rng_state(), context)
        if context.is_main:
            save_checkpoint(out / CHECKPOINT_NAME, core, make_meta(_final_metrics(record)),
                            training=training_state(engine, epoch + 1, config, history, rng_states))
            log.append(record)
            _log(context, f"epoch {epoch + 1}/{config.epochs}: loss {record['train_loss']:.4f}, train acc "
                 f"{record['train_accuracy']:.4f}, test acc {record['test_accuracy']:.4f}, lr {record['lr']:.4g}, "
                 f"{record['epoch_time_s']:.1f} s")
        barrier(context)
        if on_epoch_end is not None:
            on_epoch_end(record)

    return _finish(config, context, core, make_meta, history, started, out)


def _cpu_latency(model: nn.Module, input_size: tuple[int, int, int], threads: int | None) -> dict[str, float]:
    """Median CPU forward time of the deploy form at batch 1, float32: recorded in the checkpoint."""
    deployed = deploy_form(copy.deepcopy(model).cpu().float(), inplace=True)
    measured = measure_latency(deployed, input_size, threads=threads, min_run_time_s=0.5)
    return {"cpu_latency_ms": round(measured.median_ms, 4), "cpu_latency_threads": float(measured.threads)}


def _finish(config: TrainConfig, context: DistContext, core: nn.Module,
            make_meta: Callable[[dict[str, Any]], CheckpointMeta], history: list[dict[str, Any]], started: float,
            out: Path) -> TrainResult:
    """Write ``model.pt`` (and ``.safetensors``) and ``summary.json``; compare the processes' states."""
    hashes = gather_objects(state_sha256(core), context)
    metrics = _final_metrics(history[-1]) if history else {}
    meta = make_meta(metrics)
    if context.is_main:
        metrics = {**metrics, **_cpu_latency(core, meta.input.input_size, config.threads)}
        meta = make_meta(metrics)
    model_path = out / MODEL_NAME
    result = TrainResult(out=out, model_path=model_path, metrics=metrics, history=history, params=meta.params,
                         macs=meta.macs, state_sha256=hashes, seconds=time.perf_counter() - started)
    if context.is_main:
        save_checkpoint(model_path, core, meta)
        if config.safetensors:
            export_safetensors(model_path, model_path.with_suffix(".safetensors"))
        summary = {**asdict(result), "out": str(out), "model_path": str(model_path), "world_size": context.world_size}
        write_atomically(out / SUMMARY_NAME, json.dumps(summary, indent=2).encode("utf-8"))
        if len(set(hashes)) > 1:
            _log(context, f"warning: the processes' final states differ: {hashes}")
    barrier(context)  # rank 0's files are complete before any process returns and reads them
    return result
