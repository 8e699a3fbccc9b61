"""Fixtures for the TimerPO integration tests: verl's composed config, and a real TransferQueue on local Ray."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def transfer_queue():
    """`ray.init(num_cpus=8)` before `tq.init()`: on 2 cores TQ's controller and storage actors need the slots."""
    ray = pytest.importorskip("ray")
    tq = pytest.importorskip("transfer_queue")
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    try:
        tq.init()
        yield tq
        tq.close()
    finally:
        ray.shutdown()
