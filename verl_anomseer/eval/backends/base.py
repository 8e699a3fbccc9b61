"""The backend interface and the decoding settings shared by the model backends."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Protocol

from verl_anomseer.eval.samples import Sample
from verl_anomseer.series.prompt import IMAGE_PLACEHOLDER


@dataclass(frozen=True)
class Decoding:
    """Greedy when ``temperature == 0`` (the default); sampling otherwise, seeded per run seed."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 1024

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def as_dict(self) -> dict:
        return asdict(self)


class Backend(Protocol):
    settings: dict

    def check(self) -> None: ...

    def generate(self, samples: list[Sample], seed: int) -> Iterator[tuple[Sample, str]]: ...


def chat_content(prompt: str) -> list[dict]:
    """The prompt's ``<image>`` placeholder as a structured image part, the rest as text parts."""
    parts: list[dict] = []
    for i, chunk in enumerate(prompt.split(IMAGE_PLACEHOLDER)):
        if i:
            parts.append({"type": "image"})
        if chunk.strip():
            parts.append({"type": "text", "text": chunk})
    return parts


def batched(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
