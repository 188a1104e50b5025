"""The ``wmhseg`` sub-commands, one module each, dispatched by :mod:`wmhseg.cli`.

Each module provides ``add_arguments(parser)`` and ``run(args) -> int``:

* :mod:`.predict`: ``wmhseg predict``, WMH masks, lesion tables, QC and summaries of FLAIR volumes;
* :mod:`.evaluate`: ``wmhseg evaluate``, the WMH challenge metrics of predicted masks;
* :mod:`.prepare`: ``wmhseg prepare``, datalist JSONs;
* :mod:`.cross_validate`: ``wmhseg cross-validate``, one network fold by fold;
* :mod:`.reproduce_tables`: ``wmhseg reproduce-tables``, the paper's Tables 1-3;
* :mod:`.experiment_options`: the options the last two share.
"""
