"""Limits that every reader enforces, so hostile or huge uploads fail fast with a 4xx."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadLimits:
    """Upper bounds for one upload; the app fills them from Settings."""

    max_bytes: int = 50 * 1024 * 1024
    max_vertices: int = 2_000_000
    max_features: int = 200_000
    max_archive_files: int = 200
    max_uncompressed_bytes: int = 500 * 1024 * 1024
    # Spreadsheet cells read (rows x columns, counted while streaming): a sheet with one cell in
    # column XFD pads every row to 16 384 cells, so rows alone do not bound the memory.
    max_cells: int = 5_000_000

    @property
    def max_mb(self) -> float:
        return self.max_bytes / 1024 / 1024
