"""Real OpenSSH key pairs for the SSH key tests, made with `cryptography` (RSA keys are slow
to generate, so each size is made once per test session)."""

import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

CURVES = {"nistp256": ec.SECP256R1, "nistp384": ec.SECP384R1, "nistp521": ec.SECP521R1}


def private_key(kind="ed25519", bits=2048):
    """A fresh private key: "ed25519", "rsa" (of `bits`), or "nistp256"/"nistp384"/"nistp521"."""
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "rsa":
        return _rsa(bits)
    return ec.generate_private_key(CURVES[kind]())


@functools.cache
def _rsa(bits):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_line(key, comment=""):
    """The OpenSSH public key line of a private key, with an optional comment."""
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{line} {comment}" if comment else line


def public_key(kind="ed25519", comment="", bits=2048):
    """A fresh public key line of `kind`."""
    return public_line(private_key(kind, bits), comment)


def private_pem(key):
    """The private key in OpenSSH's PEM-like format (what must never be pasted)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
