"""Windowed anomaly detection on real series: ``python -m verl_anomseer.detect INPUT ... --out DIR``.

Each input series is cut into windows (``verl_anomseer.data.files``), every window is answered by a trained
model or a classical detector (the evaluation's backends), the answers vote per row (:mod:`.merge`), and the
outputs (:mod:`.outputs`) are ``anomalies.csv`` in the file's own rows, one plot per series and, for labelled
input, ``report.md`` / ``report.csv``. See :mod:`.cli` and docs/files.md.
"""
