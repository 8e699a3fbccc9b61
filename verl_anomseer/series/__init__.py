"""Time series as data (no verl): generators, the label taxonomy, GT-free plot rendering, the task prompt.

- ``generators.generate(suite, category, index, seed, length=None, *, split="") -> Series``: the AnomLLM suite
  (``anomllm``) and VisualTimeAnomaly-style injections (``vta``), one RNG per sample;
- ``taxonomy``: classes, categories, ``class_for(category, has_anomaly)``;
- ``render.render_png(values) -> bytes`` and ``render.plot_series(ax, values)``: the AnomLLM plot style;
- ``prompt.build_prompt(length) -> str``.
"""
