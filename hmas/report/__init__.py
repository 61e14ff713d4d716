"""Reports: queries and figures read from the store (signals, outcomes, the paper account)."""
