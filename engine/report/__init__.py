"""The scale-up scorecard and reports of seed 004.

- :mod:`engine.report.split`     public/hidden test split by a seeded hash
- :mod:`engine.report.scorecard` per-instance BRS, HFS, TSS, overfit gap, Overall, success
- :mod:`engine.report.costs`     cost and time per instance from the rollout runs behind the predictions
- :mod:`engine.report.stats`     mean, median, std, 95% CI
- :mod:`engine.report.histogram` text histograms
- :mod:`engine.report.criteria`  phase criteria files (seed 004's phase table ships as an example)
- :mod:`engine.report.sources`   a phase's records from an eval run or a harness log folder
- :mod:`engine.report.build`     the report data of one or more phases
- :mod:`engine.report.markdown`  the report as Markdown
- :mod:`engine.report.plots`     PNG plots (matplotlib, optional extra ``report``)
- :mod:`engine.report.monitor`   the seed's live monitoring line
"""
