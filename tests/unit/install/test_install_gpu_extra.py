"""The `gpu` extra installs from binary wheels alone: no dependency needs a compiler (flash-attn is optional).

A resolver run needs the package index, so the closure is pinned instead: the extra's own lines from
pyproject.toml and every name verl 0.9.1's `vllm` extra pulls in (read from verl's installed metadata), each
with the wheel that `pip install --dry-run --only-binary=:all:` picked for CPython 3.11 on manylinux x86_64
when the list was made. A new name fails here until someone checks its wheel and adds it.
"""

from __future__ import annotations

from importlib.metadata import requires
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"
GPU_EXTRA = ["verl[vllm]==0.9.1"]
# name -> the wheel checked (py3-none-any: pure Python; cp311/abi3 manylinux: prebuilt binary)
BINARY_WHEELS = {
    "verl": "py3-none-any",
    "vllm": "0.24.0 cp38-abi3 manylinux_2_28_x86_64 (ships its own attention kernels)",
    "torch": "2.11.0 manylinux (PyTorch's CUDA wheels)",
    "torchvision": "0.26.0 manylinux (PyTorch's CUDA wheels)",
    "torchaudio": "2.11.0 manylinux (PyTorch's CUDA wheels)",
    "transformers": "py3-none-any",
    "mbridge": "py3-none-any",
    "transferqueue": "py3-none-any",
    "accelerate": "py3-none-any",
    "cachetools": "py3-none-any",
    "codetiming": "py3-none-any",
    "datasets": "py3-none-any",
    "dill": "py3-none-any",
    "fastapi": "py3-none-any",
    "hydra-core": "py3-none-any",
    "mathruler": "py3-none-any",
    "msgspec": "cp311 manylinux2014_x86_64",
    "numpy": "cp311 manylinux_2_28_x86_64",
    "nvtx": "cp311 manylinux2014_x86_64",
    "packaging": "py3-none-any",
    "pandas": "cp311 manylinux_2_28_x86_64",
    "peft": "py3-none-any",
    "pyarrow": "cp311 manylinux_2_28_x86_64",
    "pybind11": "py3-none-any",
    "pylatexenc": "py2.py3-none-any",
    "pytest": "py3-none-any",
    "pytest-asyncio": "py3-none-any",
    "pytest-rerunfailures": "py3-none-any",
    "pyzmq": "cp311 manylinux_2_28_x86_64",
    "qwen-vl-utils": "py3-none-any",
    "ray": "cp311 manylinux2014_x86_64",
    "tensorboard": "py3-none-any",
    "tensordict": "cp311 manylinux_2_28_x86_64",
    "torchcodec": "cp311 manylinux_2_28_x86_64",
    "torchdata": "py3-none-any",
    "uvicorn": "py3-none-any",
    "wandb": "py3-none-manylinux_2_28_x86_64",
}
# sdist-only on the package index, or built against the local CUDA toolkit at install time
SOURCE_BUILDS = {"flash-attn", "apex", "transformer-engine", "deepspeed"}


def _gpu_extra() -> list[str]:
    return tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["gpu"]


def _applies(req: Requirement, extra: str) -> bool:
    """Does `req` belong to the base requirements (extra "") or to `extra`?"""
    if not extra:
        return req.marker is None
    return req.marker is not None and req.marker.evaluate({"extra": extra})


def _verl_closure(extras: set[str]) -> set[str]:
    """Names verl's own requirements pull in for `extras` (verl[...] self-references followed)."""
    reqs = [Requirement(line) for line in requires("verl") or []]
    names, todo, seen = set(), list(extras | {""}), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in (r for r in reqs if _applies(r, extra)):
            if req.name == "verl":
                todo += sorted(req.extras)
            else:
                names.add(canonicalize_name(req.name))
    return names


def test_gpu_extra_is_the_pinned_list():
    assert _gpu_extra() == GPU_EXTRA


def test_no_dependency_of_the_gpu_extra_needs_a_source_build():
    closure = {canonicalize_name("verl")}
    for line in _gpu_extra():
        req = Requirement(line)
        closure.add(canonicalize_name(req.name))
        if req.name == "verl":
            closure |= _verl_closure(set(req.extras))
    assert "vllm" in closure and "torch" in closure, closure
    assert not closure & SOURCE_BUILDS
    unchecked = sorted(closure - set(BINARY_WHEELS))
    assert not unchecked, f"check that these install from wheels, then add them to BINARY_WHEELS: {unchecked}"


def test_the_closure_reader_sees_an_extra_that_needs_flash_attn():
    """verl's own `fsdp` extra pins flash-attn: the reader must find it (so the check above can fail)."""
    assert "flash-attn" in _verl_closure({"fsdp"})
    assert "flash-attn" not in _verl_closure({"vllm"})
