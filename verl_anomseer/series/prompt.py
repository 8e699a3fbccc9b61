"""The task prompt: one ``<image>`` placeholder, then the instruction (series length, classes, answer format)."""

from __future__ import annotations

from verl_anomseer.series.taxonomy import ANOMALY_CLASSES, CLASSES, NORMAL

IMAGE_PLACEHOLDER = "<image>"


def build_prompt(length: int, channels: int = 1) -> str:
    """The user turn for a plot of a series of ``length`` points (x positions 0 .. length - 1).

    ``channels > 1``: the plot stacks that many aligned panels, one per channel, and an anomaly is a time
    interval in any of them.
    """
    if int(length) < 1 or int(channels) < 1:
        raise ValueError(f"length and channels must be positive; got length={length}, channels={channels}")
    if int(channels) == 1:
        what = f"a univariate time series of length {int(length)}"
    else:
        what = (
            f"a multivariate time series of length {int(length)} with {int(channels)} channels, drawn as "
            f"{int(channels)} stacked panels that share the x-axis (an anomaly in any channel counts)"
        )
    anomaly_types = ", ".join(f'"{c}"' for c in ANOMALY_CLASSES)
    classes = ", ".join(CLASSES)
    return (
        f"{IMAGE_PLACEHOLDER}\n"
        f"You are an expert in time-series analysis. The image plots {what}; "
        f"the x-axis is the time index, from 0 to {int(length) - 1}. "
        "Find the anomalous intervals along the x-axis and decide which anomaly type best explains them, "
        f"choosing from [{anomaly_types}].\n"
        "First reason step by step inside <think>...</think>. Then give the intervals as "
        "<answer>[[start, end], ...]</answer> with integer x positions, start inclusive and end exclusive, "
        f"and the type as <class>one of: {classes}</class>.\n"
        f"If the series has no anomaly, answer <answer>[]</answer> and <class>{NORMAL}</class>."
    )
