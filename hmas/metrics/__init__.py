"""Prometheus metrics of the store: the signals, the guardian, the paper account, the runs, the
LLM spend and the kill switch, served while ``hmas run`` loops or written as a textfile."""
