"""The CPU backend's `torch.cuda` stand-in answers the calls it lists and refuses every other one by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from verl_anomseer.cpu.platform import ANSWERED_CALLS, DEVICE_MODULE, NO_OP_CALLS

# device calls in verl 0.9.1 that have no host meaning beyond a guess: refused, so that reaching one fails loudly
REFUSED_CALLS = {"Event", "Stream", "current_stream", "stream", "get_device_properties", "memory"}


def test_listed_calls_answer_for_the_host():
    assert DEVICE_MODULE.is_available() is True
    assert (DEVICE_MODULE.device_count(), DEVICE_MODULE.current_device()) == (1, 0)
    free, total = DEVICE_MODULE.mem_get_info()
    assert 0 < free <= total
    DEVICE_MODULE.manual_seed(7)
    state = DEVICE_MODULE.get_rng_state()
    first = torch.rand(3)
    DEVICE_MODULE.set_rng_state(state)
    assert torch.equal(torch.rand(3), first)
    for name in sorted(NO_OP_CALLS):
        assert getattr(DEVICE_MODULE, name)() == 0, name


@pytest.mark.parametrize("name", sorted(REFUSED_CALLS | {"some_future_call", "_lazy_init"}))
def test_an_unlisted_call_raises_naming_it(name):
    assert name not in ANSWERED_CALLS
    with pytest.raises(AttributeError, match=rf"torch\.cuda\.{name}: .*ANSWERED_CALLS"):
        getattr(DEVICE_MODULE, name)
    assert not hasattr(DEVICE_MODULE, name)


def test_every_device_call_in_verl_is_answered_or_refused_on_purpose():
    """`get_torch_device().<call>` sites in the installed verl: a new one must be decided on, not guessed."""
    import verl

    pattern = re.compile(r"get_torch_device\(\)\.([A-Za-z_]\w*)")
    calls = {m for path in Path(verl.__file__).parent.rglob("*.py") for m in pattern.findall(path.read_text())}
    assert calls, "no get_torch_device() call found in verl: the pattern no longer matches verl's code"
    undecided = sorted(calls - ANSWERED_CALLS - REFUSED_CALLS)
    assert not undecided, f"verl calls torch.cuda.{undecided} through the platform: answer or refuse them"
