"""The verdict on a measurement: stable, or noisy with what disturbed it and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass

#: A run whose process got less than this share of the CPU time its threads asked for shared the
#: cores with other processes: its times, and often its ratios, are not the machine's.
MIN_CPU_SHARE = 0.8

#: A candidate whose blocks' 10th and 90th percentiles lie more than this share of their median apart runs
#: at more than one speed (seen: a dense 3x3 conv at 9 or at 16 ms, by where its data lay in memory):
#: the median of its ratios then depends on which speed most rounds caught, and more rounds do not fix it.
MAX_DECILE_SPREAD = 0.3

#: A warm-up call this many times a steady call is reported as a first-call cost.
FIRST_CALL_FACTOR = 3.0


@dataclass(frozen=True)
class Verdict:
    """``noisy`` with its ``reasons`` (each one enough to distrust the figures) and ``advice``;
    ``notes`` are what was seen and handled (a first-call cost the warm-up excluded). ``spread`` is the
    widest relative half-width of the 95% intervals (0.05 is ±5%)."""

    noisy: bool
    spread: float
    target: float
    reasons: tuple[str, ...] = ()
    advice: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    whole_run: bool = False  # a reason that taints every figure of the run (load, threads, too few rounds)

    @property
    def label(self) -> str:
        return "NOISY" if self.noisy else "stable"

    def __str__(self) -> str:
        text = f"{self.label} (95% intervals within ±{self.spread:.1%}, target ±{self.target:.0%})"
        if self.reasons:
            text += ": " + "; ".join(self.reasons)
        if self.advice:
            text += ". To do: " + "; ".join(self.advice)
        if self.notes:
            text += ". Noted: " + "; ".join(self.notes)
        return text


def judge(
    *,
    spread: float,
    target: float,
    wide: list[str],
    rounds: int,
    coverage: float,
    converged_in_budget: bool,
    cpu_share: float | None,
    threads: int,
    load: float | None,
    cpus: int,
    thread_counts: list[int],
    notes: list[str],
    speeds: tuple[str, ...] | list[str] = (),
) -> Verdict:
    """The verdict from what the engine saw; each argument is one observation (see ``engine.measure``).
    ``speeds``: the candidates that ran at more than one speed, each with the 10th and 90th percentile
    of its blocks."""
    reasons: list[str] = []
    advice: list[str] = []
    loaded = cpu_share is not None and cpu_share < MIN_CPU_SHARE
    if loaded:
        load_text = "" if load is None else f", load average {load:.1f} on {cpus} core(s)"
        reasons.append(f"other processes took the cores: this run got {cpu_share:.0%} of the CPU time its "
                       f"{threads} thread(s) asked for{load_text}")
        advice.append("close other programs (or wait for them) and rerun")
        if threads > 1:
            advice.append("pin the threads (--threads 1, or taskset to free cores) so the run does not share cores")
    elif cpu_share is None and load is not None and load > cpus:
        notes = [*notes, f"load average {load:.1f} on {cpus} core(s) (device timing, not judged by CPU share)"]
    if len(set(thread_counts)) > 1:
        counts = " -> ".join(map(str, dict.fromkeys(thread_counts)))
        reasons.append(f"the thread count changed during the run ({counts})")
        advice.append("fix the thread count (--threads N) and keep other code from changing it")
    if coverage < 0.95:
        reasons.append(f"only {rounds} round(s): too few for a 95% interval")
    whole_run = bool(reasons)
    if speeds:
        reasons.append("ran at more than one speed (10th to 90th percentile of the blocks; where the data lie "
                       "in memory can do this to a convolution): " + "; ".join(speeds))
        advice.append("read such a ratio as lying anywhere in its interval on this machine: more rounds do "
                      "not narrow it")
    if wide:
        reasons.append("95% interval wider than ±{:.0%}: {}".format(target, ", ".join(wide)))
        if not converged_in_budget:
            advice.append("raise the time budget (more rounds narrow the interval)")
    return Verdict(bool(reasons), spread, target, tuple(reasons), tuple(dict.fromkeys(advice)), tuple(notes), whole_run)
