"""`python -m nlx.report WORKDIR... [--out FILE]`: see `nlx.report.report`."""

from nlx.report.report import main

main()
