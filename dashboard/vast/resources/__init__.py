"""Groups of Vast endpoints beyond the core (offers, instances, keys, user), each a small class
over the client's one `_call` (the same auth, retries, timeouts, redaction and logging):
`client.ssh_keys`, `client.instance_ops` (logs, reboot, bid), `client.templates`, `client.bulk`.
Each module parses its answers into its own frozen dataclasses and never keeps a secret."""
