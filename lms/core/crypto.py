"""Identity and bank account numbers encrypted at rest, with a keyed hash to find them.

A copy of the database alone (a backup, a stolen disk, a replica) must not reveal who is in the
registry: a 居民身份证号 is a person's key to everything in China, and the bans table lists
people who abused children. So the numbers are stored only as

- ciphertext: AES-256-GCM (the `cryptography` package, OpenSSL underneath: authenticated, a
  few microseconds a value, so the 1M-person province generator stays fast). A fresh 96-bit
  nonce per value; the column's purpose ("id_number", "bank_account") is the associated data,
  so a ciphertext copied into another column does not decrypt. Each token starts with a
  version byte and a 3-byte id of its key, which tells decryption which key to use and
  `flask lms rotate-keys` which rows still need the newest one;
- a lookup hash: HMAC-SHA256 under a second, separate key. Equal numbers give equal hashes, so
  `==`, `IN`, the ban gate's joins and the unique index work on the hash; without the key the
  hash cannot be recomputed, so the small space of valid identity numbers (region, birth date,
  sequence: a few million a year of birth) cannot be searched offline;
- for the staff list's "last four" search, an HMAC of the last four characters (never the
  characters themselves: the birth date and gender stored beside them would leave only the
  district to guess).

The stored files that carry numbers (an uploaded roster waiting for its job: an .xlsx is a zip,
which hides nothing; a certificate PDF prints the holder's number) are encrypted the same way
(EncryptedBlob), and a number typed into free text (a ban's reason, a correction request) is
stored masked (lms.core.idnumber.mask_id_numbers_in). tests/test_encryption_at_rest.py seeds a
city and searches the SQLite file's bytes for every number.

Why not MultiFernet: it would do, but AES-CBC + HMAC in base64 is twice as long, and its
tokens carry a timestamp that says when each row was written. Why not the database's own
encryption (pgcrypto, SQLCipher): the key would travel in SQL statements (logs, pg_stat) and
the two databases would need two mechanisms.

Keys come from the environment (lms.config): LMS_DATA_KEYS, a comma-separated list of
base64-encoded 32-byte keys, newest first (the newest encrypts, all decrypt, so rotation is:
put a new key first, run `flask lms rotate-keys`, drop the old key); LMS_LOOKUP_KEY, one
base64 32-byte key (changing it means recomputing every hash: stop the app, run rotate-keys,
start it). Without keys the app refuses to start, except under TESTING or LMS_DEMO_KEYS=1
(the demo city of `make run`), which use fixed, public keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import LargeBinary, String
from sqlalchemy.types import TypeDecorator

VERSION = b"\x01"
_NONCE = 12
_KEY_ID = 3
#: the fixed keys of the demo city and the tests (published here, so protecting nothing)
DEMO_DATA_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"lms demo data key").digest()).decode()
DEMO_LOOKUP_KEY = base64.urlsafe_b64encode(
    hashlib.sha256(b"lms demo lookup key").digest()).decode()

#: the associated data of each encrypted column (one purpose per kind of content)
ID_NUMBER = "id_number"
BANK_ACCOUNT = "bank_account"
#: files stored in the database that carry identity numbers: uploaded rosters (job inputs;
#: an .xlsx is a zip, which hides nothing) and the certificate PDFs (the holder's number)
FILE = "file"


class KeyConfigError(RuntimeError):
    """Keys missing or malformed: the message says which variable and what it must hold."""


class DecryptionError(RuntimeError):
    """A stored value no configured key decrypts (a key dropped too early, or tampering)."""


def _key(text: str, variable: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise KeyConfigError(f"{variable}: each key must be 32 random bytes in base64 "
                        "(make one with: python -c \"import base64,os; "
                        "print(base64.urlsafe_b64encode(os.urandom(32)).decode())\")")
    return raw


def new_key() -> str:
    """A fresh random key in the form the environment variables take."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@dataclass
class Keyring:
    """The data keys (newest first) and the lookup key, ready to use."""

    data_keys: list[bytes]
    lookup_key: bytes
    _ciphers: dict[bytes, AESGCM] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if not self.data_keys:
            raise KeyConfigError("LMS_DATA_KEYS: give at least one key")
        for key in self.data_keys:
            self._ciphers.setdefault(self.key_id(key), AESGCM(key))
        self._newest_id = self.key_id(self.data_keys[0])
        self._newest = self._ciphers[self._newest_id]

    def __repr__(self) -> str:  # never the keys
        return f"<Keyring {len(self.data_keys)} data keys>"

    @classmethod
    def from_strings(cls, data_keys: str, lookup_key: str) -> Keyring:
        keys = [_key(k, "LMS_DATA_KEYS") for k in data_keys.split(",") if k.strip()]
        return cls(keys, _key(lookup_key, "LMS_LOOKUP_KEY"))

    @staticmethod
    def key_id(key: bytes) -> bytes:
        """Three bytes naming a key (a hash of it: says nothing about the key)."""
        return hashlib.sha256(b"lms key id" + key).digest()[:_KEY_ID]

    def seal(self, data: bytes, purpose: str) -> bytes:
        """Bytes encrypted under the newest key: version, key id, nonce, ciphertext and tag."""
        nonce = os.urandom(_NONCE)
        return VERSION + self._newest_id + nonce + self._newest.encrypt(nonce, data,
                                                                        purpose.encode())

    def open(self, raw: bytes, purpose: str) -> bytes:
        if not isinstance(raw, bytes):  # a driver's memoryview
            raw = bytes(raw)
        if raw[:1] != VERSION:
            raise DecryptionError("not a token of this system")
        cipher = self._ciphers.get(raw[1:1 + _KEY_ID])
        if cipher is None:
            raise DecryptionError("the key this value was encrypted with is not in LMS_DATA_KEYS")
        start = 1 + _KEY_ID
        try:
            return cipher.decrypt(raw[start:start + _NONCE], raw[start + _NONCE:],
                                  purpose.encode())
        except InvalidTag:
            raise DecryptionError("a stored value failed its integrity check") from None

    def encrypt(self, plaintext: str, purpose: str) -> str:
        """Text encrypted under the newest key, as base64 text (a text column holds it)."""
        return base64.urlsafe_b64encode(self.seal(plaintext.encode(), purpose)).decode()

    def decrypt(self, token: str, purpose: str) -> str:
        return self.open(base64.urlsafe_b64decode(token), purpose).decode()

    def is_current(self, token: str | bytes) -> bool:
        """Whether a token (text or bytes) is under the newest key (rotate-keys skips those)."""
        if isinstance(token, str):
            token = base64.urlsafe_b64decode(token[:8])  # the first six bytes
        return bytes(token[:1 + _KEY_ID]) == VERSION + self._newest_id

    def lookup(self, value: str) -> str:
        """The keyed hash the lookups compare (hex): equal for equal values."""
        remembered = _REMEMBERED.get()
        if remembered is None:
            return self._lookup(value)
        memo = remembered.get(self.lookup_key)
        if memo is None:
            memo = remembered[self.lookup_key] = {}
        digest = memo.get(value)
        if digest is None:
            digest = memo[value] = self._lookup(value)
        return digest

    def _lookup(self, value: str) -> str:
        # hmac.digest: OpenSSL's one-shot HMAC, a few times faster than an hmac object
        return hmac.digest(self.lookup_key, value.encode(), "sha256").hex()

    def tail_lookup(self, value: str) -> str:
        """The keyed hash of the last four characters (the staff list's search)."""
        return self.lookup("tail:" + value[-4:])


#: lookup key -> {value: its lookup hash}, inside `lookups_remembered` (per context: a thread's
#: or a task's own)
_REMEMBERED: ContextVar[dict[bytes, dict[str, str]] | None] = ContextVar("lms_lookups_remembered",
                                                                        default=None)


@contextmanager
def lookups_remembered(shared: dict | None = None) -> Iterator[None]:
    """Inside the block each value's lookup hash is computed once. A roster import asks for
    the same 100,000 numbers' hashes several times (the persons already registered, the ban
    gate, the rows it inserts, and the tail hashes repeat); the hashes, and the numbers they
    are keyed by, are forgotten when the block ends. `shared`: what `remembered_lookups` gave
    inside another thread's block, for a thread working on the same numbers beside it."""
    token = _REMEMBERED.set(shared if shared is not None else {})
    try:
        yield
    finally:
        _REMEMBERED.reset(token)


def remembered_lookups() -> dict | None:
    """The hashes remembered in this thread's `lookups_remembered` block (None outside one)."""
    return _REMEMBERED.get()


def keyring_from_config(config) -> Keyring:
    """The keys from LMS_DATA_KEYS / LMS_LOOKUP_KEY (lms.config reads them); the fixed demo keys
    under TESTING or LMS_DEMO_KEYS; otherwise a clear refusal to start."""
    data, lookup = config.get("DATA_KEYS"), config.get("LOOKUP_KEY")
    if not data and not lookup and (config.get("TESTING") or config.get("DEMO_KEYS")):
        data, lookup = DEMO_DATA_KEY, DEMO_LOOKUP_KEY
    if not data or not lookup:
        raise KeyConfigError(
            "LMS_DATA_KEYS and LMS_LOOKUP_KEY must be set: identity and bank account numbers are "
            "encrypted at rest (README, \"Keys\"). For the demo city only, LMS_DEMO_KEYS=1 uses "
            "fixed public keys.")
    return Keyring.from_strings(data, lookup)


def init_app(app) -> None:
    app.extensions["lms_keyring"] = keyring_from_config(app.config)


def keyring() -> Keyring:
    return current_app.extensions["lms_keyring"]


def lookup(value: str) -> str:
    return keyring().lookup(value)


class Encrypted(TypeDecorator):
    """A text column holding ciphertext: values are encrypted when bound and decrypted when
    read, so ORM attributes and selected columns hold the plaintext. Never compare it in SQL
    (each encryption differs): compare the lookup hash (lms.registry.models)."""

    impl = String(128)
    cache_ok = True

    def __init__(self, purpose: str, length: int = 128):
        super().__init__(length)
        self.purpose = purpose

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return keyring().encrypt(value, self.purpose)

    def process_bind_many(self, values: list, dialect) -> list:
        """A column of values at once (lms.core.bulk.bulk_insert): the keys looked up once."""
        ring, purpose = keyring(), self.purpose
        return [None if value is None else ring.encrypt(value, purpose) for value in values]

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return keyring().decrypt(value, self.purpose)

    def copy(self, **kw):
        return Encrypted(self.purpose, self.impl.length)


class EncryptedBlob(TypeDecorator):
    """A binary column holding an encrypted file (same scheme, raw bytes): the ORM sees the
    file, the database the ciphertext."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str = FILE):
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return keyring().seal(bytes(value), self.purpose)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return keyring().open(value, self.purpose)

    def copy(self, **kw):
        return EncryptedBlob(self.purpose)


# --- rotation ---------------------------------------------------------------------------------


def encrypted_columns(table) -> list:
    return [c for c in table.columns if isinstance(c.type, (Encrypted, EncryptedBlob))]


def rotate(batch: int = 2000, progress=None) -> dict[str, int]:
    """Re-encrypt every stored value not under the newest data key, and recompute the lookup
    hashes (identity numbers) that differ from what the current lookup key gives: after a key
    is put first in LMS_DATA_KEYS, or LMS_LOOKUP_KEY changed. Table by table, in batches, each
    batch committed (safe to stop and run again: what is done is skipped). Every encrypted
    column is found in the metadata by its type, so a new one is rotated without a change here.
    Returns the rows changed per table."""
    from sqlalchemy import bindparam, select, type_coerce

    from lms.core import audit
    from lms.core.actors import system_actor
    from lms.extensions import db

    ring = keyring()
    changed: dict[str, int] = {}
    for table in db.metadata.sorted_tables:
        columns = encrypted_columns(table)
        if not columns:
            continue
        (key,) = table.primary_key.columns
        hashed = "id_number_hash" in table.c and "id_number_tail" in table.c
        extra = [table.c.id_number_hash, table.c.id_number_tail] if hashed else []
        raw = [type_coerce(c, c.type.impl).label(c.name) for c in columns]
        update = table.update().where(key == bindparam("_key")).values(
            {c.name: bindparam(c.name, type_=c.type.impl) for c in columns}
            | {c.name: bindparam(c.name) for c in extra})
        count, last = 0, None
        while True:
            stmt = select(key, *raw, *extra).order_by(key).limit(batch)
            if last is not None:
                stmt = stmt.where(key > last)
            rows = db.session.execute(stmt).all()
            if not rows:
                break
            last = rows[-1][0]
            updates = []
            for row in rows:
                values = dict(zip([c.name for c in columns], row[1:1 + len(columns)], strict=True))
                stale = False
                for column in columns:
                    token = values[column.name]
                    if token is None:
                        continue
                    is_text = isinstance(column.type, Encrypted)
                    plain = (ring.decrypt(token, column.type.purpose) if is_text
                             else ring.open(token, column.type.purpose))
                    if column.name == "id_number_enc" and hashed:
                        lookup_, tail = ring.lookup(plain), ring.tail_lookup(plain)
                        if (lookup_, tail) != tuple(row[1 + len(columns):]):
                            stale = True
                        values["id_number_hash"], values["id_number_tail"] = lookup_, tail
                    if not ring.is_current(token):
                        stale = True
                        values[column.name] = (ring.encrypt(plain, column.type.purpose)
                                               if is_text else ring.seal(plain, column.type.purpose))
                if stale:
                    if hashed and "id_number_hash" not in values:
                        values["id_number_hash"], values["id_number_tail"] = row[1 + len(columns):]
                    updates.append({"_key": row[0], **values})
            if updates:
                db.session.execute(update, updates)
                count += len(updates)
            db.session.commit()
            if progress:
                progress(table.name, len(rows))
        changed[table.name] = count
    audit.record(system_actor("crypto"), "core.keys_rotated", **changed)
    db.session.commit()
    return changed
