"""Sessions run in threads and share the cached models: with turns on a model (lab.model_lock), each run's
hooks see only its own forward pass."""

import threading
from concurrent.futures import ThreadPoolExecutor

import torch

import analysis
import slimconv
from lab.model_lock import exclusive

RUNS_PER_SESSION = 6
JOIN_TIMEOUT_S = 30


def test_sessions_sharing_a_model_each_get_their_own_activations():
    model = slimconv.create_model("resnet20", in_chans=1).eval()
    layers = analysis.conv_layer_names(model)[:4]
    batches = [torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(seed)) for seed in range(2)]
    expected = [analysis.capture_activations(model, batch, layers).activations for batch in batches]

    def session(index: int) -> list[bool]:
        results = []
        for _ in range(RUNS_PER_SESSION):
            with exclusive(model):
                captured = analysis.capture_activations(model, batches[index], layers).activations
            results.append(all(torch.equal(captured[name], expected[index][name]) for name in layers))
        return results

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = [pool.submit(session, index) for index in range(2)]
        assert all(all(outcome.result(timeout=JOIN_TIMEOUT_S)) for outcome in outcomes)
    assert analysis.attached_hook_count(model) == 0


def test_two_models_taken_in_opposite_orders_do_not_deadlock():
    first, second = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    both_inside = threading.Barrier(2, timeout=JOIN_TIMEOUT_S)

    def session(models: tuple[torch.nn.Module, ...]) -> None:
        for _ in range(50):
            with exclusive(*models), exclusive(models[0]):  # re-entrant too
                pass
        both_inside.wait()

    threads = [threading.Thread(target=session, args=(order,)) for order in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads) and not both_inside.broken
