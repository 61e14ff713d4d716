"""The agents: one module per agent, each with a typed view, vectorised rules and (later) a prompt.

Layer 2A: ``alpha``, ``technical``, ``sentiment``, ``macro`` (concurrently);
Layer 2B: ``execution`` (the auditor); Layer 2C: ``rationale``. The mother (Layer 1) lives in
``hmas.decision.mother``. See ``hmas.agents.base`` for the protocol.
"""
