"""Window answers voted back onto file rows, hand-derived cases."""

from __future__ import annotations

import numpy as np
import pytest

from verl_anomseer.detect.merge import WindowAnswer, merge_answers
from verl_anomseer.series.windows import vote, window_starts


def test_window_starts_cover_every_row_with_one_length():
    assert window_starts(2500, 1000, 1000) == [(0, 1000), (1000, 2000), (1500, 2500)]
    assert window_starts(2000, 1000, 500) == [(0, 1000), (500, 1500), (1000, 2000)]
    assert window_starts(1000, 1000, 300) == [(0, 1000)]
    assert window_starts(700, 1000, 500, allow_short=True) == [(0, 700)]
    with pytest.raises(ValueError, match="fewer than the window"):
        window_starts(700, 1000, 500)


def test_vote_counts_the_share_of_covering_windows():
    # rows 0-4 covered by window A only, 5-9 by A and B, 10-14 by B only
    windows = [(0, 10, [(3, 8)]), (5, 15, [(0, 1)])]
    flagged = vote(15, windows, threshold=0.5)
    assert np.flatnonzero(flagged).tolist() == [3, 4, 5, 6, 7]  # 5: two of two; 6-7: one of two
    strict = vote(15, windows, threshold=1.0)
    assert np.flatnonzero(strict).tolist() == [3, 4, 5]


def test_merge_gives_file_rows_and_the_majority_class():
    answers = [
        WindowAnswer(0, 100, [(90, 100)], "trend"),
        WindowAnswer(50, 150, [(40, 45), (60, 70)], "seasonal"),
        WindowAnswer(100, 200, [], "normal"),
    ]
    spans = merge_answers(200, answers, 0.5)
    # rows 90-94: A and B flag (B's [40, 45) = rows 90-95); 95-99: A only, of two -> 0.5 -> kept; 110-119: B of two
    assert spans == [(90, 100, "trend"), (110, 120, "seasonal")]
    assert merge_answers(200, answers, 1.0) == [(90, 95, "seasonal")]  # a 5-5 tie: taxonomy order (seasonal first)
