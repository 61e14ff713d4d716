"""The operator's use case: the run loop (fetch, settle, analyse, decide per symbol)."""
