"""OpenSSH public keys: parsing, fingerprints, and the form that adds one to a person's keys.

A key is one line `TYPE BASE64 [COMMENT]` of an accepted type (Ed25519, ECDSA on NIST P-256,
P-384 or P-521, RSA of at least 2048 bits); `cryptography` checks that the blob really is such
a key. The fingerprint is what `ssh-keygen -lf` prints: "SHA256:" and the unpadded base64 of
the SHA-256 of the blob.
"""

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from django import forms

from instances.models import SshKey

ACCEPTED_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
MIN_RSA_BITS = 2048
MAX_KEY_CHARS = 16_000  # an RSA key of 16384 bits is about 2,800 characters
ACCEPTED = "ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (2048 bits or more)"
PRIVATE_KEY = (
    "That is a private key: never paste it anywhere. Paste the public key instead, the one line in the "
    ".pub file (e.g. ~/.ssh/id_ed25519.pub). If this private key was pasted somewhere shared, make a new pair."
)


class InvalidKey(ValueError):
    """A text that is not an accepted OpenSSH public key; the message says why, for the form."""


@dataclass(frozen=True)
class ParsedKey:
    """An accepted public key: `line` is its normalized one-line form (type, blob, comment)."""

    key_type: str
    bits: int
    fingerprint: str
    comment: str
    line: str


def fingerprint(blob):
    """The SHA256 fingerprint of a key blob, as `ssh-keygen -lf` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _bits(key):
    """The key's size in bits, as `ssh-keygen -l` counts it."""
    if isinstance(key, rsa.RSAPublicKey):
        return key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return 256
    raise InvalidKey(f"This kind of key is not accepted; use {ACCEPTED}.")


def parse_public_key(text):
    """The ParsedKey of an OpenSSH public key line, or InvalidKey saying what is wrong."""
    text = (text or "").strip()
    if not text:
        raise InvalidKey("Paste your public key: one line starting with ssh-ed25519, ecdsa-sha2-… or ssh-rsa.")
    if "-----BEGIN" in text or "PRIVATE KEY" in text:
        raise InvalidKey(PRIVATE_KEY)
    if len(text) > MAX_KEY_CHARS:
        raise InvalidKey("That is far too long for a public key.")
    if len(text.splitlines()) > 1:
        raise InvalidKey("Paste one key only: a single line (type, key and an optional comment).")
    if any(ord(char) < 32 and char != "\t" for char in text):
        raise InvalidKey("The key holds control characters; paste the line from the .pub file as it is.")
    parts = text.split(None, 2)
    key_type = parts[0]
    if key_type not in ACCEPTED_TYPES:
        if key_type == "ssh-dss":
            raise InvalidKey(f"DSA keys are no longer safe (OpenSSH turned them off). Use {ACCEPTED}.")
        raise InvalidKey(f"Not an accepted OpenSSH public key: it must start with {ACCEPTED}.")
    if len(parts) < 2:
        raise InvalidKey("The key is cut short: after the type comes the key itself in base64.")
    encoded, comment = parts[1], parts[2].strip() if len(parts) == 3 else ""
    try:
        blob = base64.b64decode(encoded, validate=True)
        key = load_ssh_public_key(f"{key_type} {encoded}".encode())
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise InvalidKey("The key is damaged: its base64 part is not a valid key of that type.") from None
    bits = _bits(key)
    if key_type == "ssh-rsa" and bits < MIN_RSA_BITS:
        raise InvalidKey(
            f"This RSA key has only {bits} bits; at least {MIN_RSA_BITS} are needed. "
            "Make a new one, e.g. `ssh-keygen -t ed25519`."
        )
    line = f"{key_type} {encoded}" + (f" {comment}" if comment else "")
    return ParsedKey(key_type=key_type, bits=bits, fingerprint=fingerprint(blob), comment=comment, line=line)


def fingerprint_of(text):
    """The fingerprint of a public key line, or None when it is not an accepted key (Vast may
    hold anything: 1.9.1's `create ssh-key x.pub` stores the path)."""
    try:
        return parse_public_key(text).fingerprint
    except InvalidKey:
        return None


class SshKeyForm(forms.Form):
    """Add a public key to one's own keys: parsed, fingerprinted, and refused if held already."""

    public_key = forms.CharField(
        label="Public key",
        max_length=MAX_KEY_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text="The one line of your .pub file, e.g. the output of `cat ~/.ssh/id_ed25519.pub`.",
    )
    name = forms.CharField(
        label="Name", max_length=100, required=False, help_text="Optional, e.g. “laptop”; else the key's comment."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_public_key(self):
        try:
            parsed = parse_public_key(self.cleaned_data["public_key"])
        except InvalidKey as exc:
            if str(exc) == PRIVATE_KEY:  # never echo a private key back into the page
                self.data = self.data.copy()
                self.data[self.add_prefix("public_key")] = ""
            raise forms.ValidationError(str(exc)) from None
        held = SshKey.objects.filter(user=self.user, fingerprint=parsed.fingerprint).first()
        if held is not None:
            raise forms.ValidationError(f"You already added this key, as “{held.name}” ({parsed.fingerprint}).")
        self.parsed = parsed
        return parsed.line

    def save(self):
        """Create the SshKey (call only when valid)."""
        parsed = self.parsed
        name = self.cleaned_data["name"].strip() or parsed.comment[:100] or f"{parsed.key_type} key"
        return SshKey.objects.create(
            user=self.user,
            name=name,
            public_key=parsed.line,
            fingerprint=parsed.fingerprint,
            key_type=parsed.key_type,
            bits=parsed.bits,
        )
