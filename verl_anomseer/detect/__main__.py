"""``python -m verl_anomseer.detect``: see :mod:`verl_anomseer.detect.cli`."""

from verl_anomseer.detect.cli import main

raise SystemExit(main())
