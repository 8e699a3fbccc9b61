"""The parquet data and its verl glue: the row schema (``schema``), the builder CLI (``build``) and the
``RLHFDataset`` adapter (``dataset.AnomSeerDataset``, used through ``data.custom_cls``)."""
