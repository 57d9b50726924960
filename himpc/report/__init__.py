"""The book layer: tables, figures, widgets and the sentences of the book's pages, read from result files.

Nothing in the method (``himpc``'s training, clustering, evaluation and CLI) imports this package.
Its modules, one job each:

* :mod:`.table`: the HTML/Markdown table type and the formatting of numbers;
* :mod:`.paper`: the paper's quoted numbers (``book/paper_results.yaml``);
* :mod:`.rows`: a paper table's quoted rows beside the measured groups that match them;
* :mod:`.selection`: the epoch a row is read at (stopping rule, test-set selection replayed) and budgets;
* :mod:`.beyond`, :mod:`.beyond_ablation`: the rows and tables beyond the paper;
* :mod:`.side_by_side`: one switch at a time on one split (paper vs the authors' code);
* :mod:`.overview`: the results overview page;
* :mod:`.page`: the shared cells of the results-table pages;
* :mod:`.viz`, :mod:`.inspection`, :mod:`.bench_report`: figures, model inspection and widgets, benchmarks;
* :mod:`.experiments`: what a page runs when its results are missing.

The names below are the ones the notebooks call as ``report.<name>``.
"""

from ..store import collect, group_key, iter_results
from .beyond import BEYOND, beyond_rows, beyond_sentences, posthoc_rows
from .overview import overview_markdown
from .paper import conditions_table, load_paper, paper_table, quoted_only_table, quoted_pair_matrix
from .rows import (NOT_MEASURED, at_a_glance, at_budget, chart_rows, clean_command, commands_markdown, comparison_rows,
                   comparison_table, config_matches, series_name, summary_sentences)
from .selection import (SELECTED_ON_TEST, STOPPED, best_traced_epoch, budget_curve, budget_sentence,
                        full_data_runs, past_budget_curves, past_budget_sentence)
from .side_by_side import side_by_side, side_by_side_sentences, side_by_side_table
from .table import Table

__all__ = ["BEYOND", "NOT_MEASURED", "SELECTED_ON_TEST", "STOPPED", "Table", "at_a_glance", "at_budget", "best_traced_epoch",
           "beyond_rows", "beyond_sentences", "budget_curve", "budget_sentence", "chart_rows", "clean_command",
           "collect", "commands_markdown", "comparison_rows", "comparison_table", "conditions_table",
           "config_matches", "full_data_runs", "group_key", "iter_results", "load_paper", "overview_markdown",
           "paper_table", "past_budget_curves", "past_budget_sentence", "posthoc_rows", "quoted_only_table",
           "quoted_pair_matrix", "series_name", "side_by_side", "side_by_side_sentences", "side_by_side_table",
           "summary_sentences"]
