"""The decision: the pipeline of agents, the mother's numbers, the pure verdict, replay."""
