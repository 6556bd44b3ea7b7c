"""Sweeps: grids of replays and scenarios (``exsim sweep``), run on every local core or on
a Ray cluster, resumable, with one result table and its report.

The pipeline's last stage beside :mod:`exsim.pages`: it imports the replay, the scenarios
and the results; nothing in exsim imports it but the command line. :mod:`.spec` reads a
sweep file, :mod:`.cells` makes its grid and rows, :mod:`.run` runs one cell.
"""
