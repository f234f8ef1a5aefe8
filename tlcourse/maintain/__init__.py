"""Maintainer tools: executing the notebooks, making the evidence, writing the README's and the
instructor guide's generated tables. Nothing here is imported by `import tlcourse` or by a
notebook; the Makefile runs these modules (`python -m tlcourse.maintain.run`, ...).

- `run`       execute the notebooks with papermill, collect one results table, compare with the committed run
- `evidence`  every notebook over five seeds (`make evidence`); the README's results tables
- `guide`     the instructor guide's timing table, from a run's results
- `errors`    the README's table of error messages, from the calls that raise them
"""
