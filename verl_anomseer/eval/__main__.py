"""``python -m verl_anomseer.eval``: see :mod:`verl_anomseer.eval.cli`."""

from verl_anomseer.eval.cli import main

raise SystemExit(main())
