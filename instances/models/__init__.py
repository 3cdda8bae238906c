"""The instances app's models, one module per subject: the ledger (`ledger`), and launch tokens.

New subjects (SSH keys of people, launch templates) get a module of their own here and are
imported below, so Django finds them all as `instances.models`.
"""

from instances.models.ledger import Instance, LaunchToken, StatusChange, SyncState
from instances.models.policies import PolicyAction, UtilSample
from instances.models.ssh import SshAttachment, SshKey
from instances.models.templates import LaunchTemplate

__all__ = [
    "Instance",
    "LaunchTemplate",
    "LaunchToken",
    "PolicyAction",
    "SshAttachment",
    "SshKey",
    "StatusChange",
    "SyncState",
    "UtilSample",
]
