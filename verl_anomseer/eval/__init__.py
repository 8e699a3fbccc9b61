"""Evaluation harness: any model or classical detector -> per-sample JSONL -> the paper's table and plots.

Entry point: ``python -m verl_anomseer.eval`` (console script ``anomseer-eval``), see :mod:`.cli`.
Every response is scored by the training reward (:func:`verl_anomseer.scoring.reward.compute_score`).
"""
