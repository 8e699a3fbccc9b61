"""``AnomSeerDataset``: verl's ``RLHFDataset`` over the builder's parquet, with every row validated first.

Use it through verl's config: ``data.custom_cls.path=pkg://verl_anomseer.data.dataset``,
``data.custom_cls.name=AnomSeerDataset``. A malformed row fails at load time with
``RowError`` naming the file, the row and the field. The bulky ``series`` column (raw values, for classical
detectors and plots) is dropped, so items carry what training needs: ``raw_prompt`` with the plot image,
``data_source``, ``reward_model``, ``extra_info``.
"""

from __future__ import annotations

import pyarrow.parquet as pq
from verl.utils.dataset.rl_dataset import RLHFDataset

from verl_anomseer.data.schema import RowError, validate_row

SERIES_COLUMN = "series"
_VALIDATE_BATCH_ROWS = 256


def validate_parquet(path: str) -> int:
    """Validate every row of a builder parquet file: the row count, or ``RowError`` naming the file, row and field."""
    row_index = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_VALIDATE_BATCH_ROWS):
        for row in batch.to_pylist():
            try:
                validate_row(row, row_index)
            except RowError as e:
                raise RowError(e.row_index, e.field, f"{e.problem} (in {path})") from None
            row_index += 1
    return row_index


class AnomSeerDataset(RLHFDataset):
    """``RLHFDataset`` that validates the AnomSeer row schema and leaves the raw ``series`` out of its items."""

    def _read_files_and_tokenize(self):
        for path in self.data_files:
            if not str(path).endswith(".parquet"):
                raise ValueError(f"AnomSeerDataset reads the builder's .parquet files; got {path}")
            validate_parquet(path)
        super()._read_files_and_tokenize()
        if SERIES_COLUMN in self.dataframe.column_names:
            self.dataframe = self.dataframe.remove_columns(SERIES_COLUMN)
