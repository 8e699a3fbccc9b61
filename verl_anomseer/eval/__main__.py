"""``python -m verl_anomseer.eval``: see :mod:`verl_anomseer.eval.cli`.

The guard matters: vLLM starts its workers with the spawn method, which imports ``__main__`` again in each."""

from verl_anomseer.eval.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
