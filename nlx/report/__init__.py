"""A run's files (`run_files`: written as it trains) and the tables, figures and pages made
from them. Below the trainer in `nlx.LAYERS`: nothing here imports how a run trains."""
