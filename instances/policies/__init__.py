"""The team's policies, applied by the worker after every sync: they stop or destroy instances and
tell people, on their own, between clicks.

- `config`: the settings (dashboard.models.PolicySettings, and the guardrails' caps and maxima);
- `facts`: what the rules read (live ledger rows with their status history) and what they decide
  (`Decision`);
- one module per rule, each a function of the ledger and `now` that returns decisions and acts on
  nothing: `lease` (the time limit chosen at launch), `idle` (GPU utilisation), `storage`
  (stopped instances that bill their disk), `budget` (the team's budget, the per-person cap);
- `engine`: takes the decisions, in dry run only records them, and otherwise claims each action
  once (instance × policy × occurrence) before it calls Vast through the service module, as
  "system", audited;
- `samples`: the GPU utilisation history kept in the ledger, and its chart.
"""
