"""The orchestration layer: jobs on Dask (:mod:`.executor`), the book's notebooks rerun with papermill
(:mod:`.notebooks`) and its site staged and built (:mod:`.site`).  It calls the method and the book
layer; neither calls it."""

from .notebooks import BOOK_NOTEBOOKS, NotebookError, report_outcomes, rerun
from .site import assemble, build_book

__all__ = ["BOOK_NOTEBOOKS", "NotebookError", "assemble", "build_book", "report_outcomes", "rerun"]
