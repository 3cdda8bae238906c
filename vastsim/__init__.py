"""A faithful Vast.ai API simulator: one router, reached in process or over HTTP.

`vastsim.transport.SimulatorTransport` plugs into an `httpx.Client`;
`python manage.py vastsim` serves the same router over HTTP (`vastsim.wsgi`).
Mutable state (instances, API keys, faults, switches) lives in the database so
every worker process sees it; the offer catalog is generated from a seed.
"""
