"""The label taxonomy: answer classes, generator categories, and the category -> class mapping.

Classes follow the VisualTimeAnomaly / TSB-UAD univariate taxonomy plus ``normal``. Every AnomLLM
category maps to a valid class (the authors' release left noisy-* and flat-trend as "unknown").
A series without anomalous intervals is ``normal`` whatever its category.
"""

from __future__ import annotations

NORMAL = "normal"
ANOMALY_CLASSES: tuple[str, ...] = ("contextual point", "global point", "seasonal", "trend", "shapelet")
CLASSES: tuple[str, ...] = ANOMALY_CLASSES + (NORMAL,)

ANOMLLM_CATEGORIES: tuple[str, ...] = (
    "range",
    "point",
    "freq",
    "trend",
    "flat-trend",
    "noisy-point",
    "noisy-freq",
    "noisy-trend",
)
VTA_CATEGORIES: tuple[str, ...] = ("global", "contextual", "seasonal", "trend", "shapelet")
SUITES: dict[str, tuple[str, ...]] = {"anomllm": ANOMLLM_CATEGORIES, "vta": VTA_CATEGORIES}
FILES_SUITE = "files"  # series imported from files; the category is the file name (see series.files)

CATEGORY_TO_CLASS: dict[str, str] = {
    "range": "global point",
    "point": "contextual point",
    "noisy-point": "contextual point",
    "freq": "seasonal",
    "noisy-freq": "seasonal",
    "trend": "trend",
    "flat-trend": "trend",
    "noisy-trend": "trend",
    "global": "global point",
    "contextual": "contextual point",
    "seasonal": "seasonal",
    "shapelet": "shapelet",
}


def class_for(category: str, has_anomaly: bool) -> str:
    """The answer class of a series of ``category``: ``normal`` when it has no anomalous interval."""
    if category not in CATEGORY_TO_CLASS:
        raise ValueError(f"unknown category {category!r}; known: {sorted(CATEGORY_TO_CLASS)}")
    return CATEGORY_TO_CLASS[category] if has_anomaly else NORMAL
