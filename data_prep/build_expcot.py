"""Build the AnomSeer parquet data: ``python data_prep/build_expcot.py --out DIR [--suite anomllm] ...``.

A thin wrapper over ``verl_anomseer.data.build.main``; ``--help`` lists the options.
"""

from verl_anomseer.data.build import main

if __name__ == "__main__":
    raise SystemExit(main())
