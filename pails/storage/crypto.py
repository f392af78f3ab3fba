"""Encryption of object data at rest (server-side encryption).

Every data file, and every inline body, is one *piece* with its own random
256-bit data key and random 128-bit IV, encrypted with AES-256-CTR: the
ciphertext has the plaintext's length, and a ranged read starts the
keystream at any byte (counter = IV + offset // 16), so ranged GETs cost what
they cost unencrypted.  CTR has no integrity of its own: each piece carries an
HMAC-SHA256 tag over IV || ciphertext (MAC key derived from the data key),
checked on every read that covers the whole piece.

The data key is never stored in the clear: it is wrapped (AES-256-GCM) with a
*wrapping key*:

- SSE-S3: the server master key, ``DATA_DIR/keys/sse-s3.key``, generated on
  first use (mode 0600);
- SSE-KMS: a named local key, ``DATA_DIR/keys/kms-<sha256(name)>.key``,
  created on first use of that name (mode 0600);
- SSE-C: the customer's key, which is never stored (the caller keeps only
  its MD5 to check later requests); a wrong key fails the GCM tag.

A piece's key material is one short string (``Piece.encode``), kept in the
object's metadata next to the data file it describes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_SIZE = 32
IV_SIZE = 16
_VERSION = "1"
_WRAP_AAD = b"pails-sse-data-key-v1"
_MAC_INFO = b"pails-sse-mac-v1"
KEYS_DIR = "keys"


_SECRET_AAD = b"pails-iam-secret-v1"
MASTER_KEY_ENV = "PAILS_MASTER_KEY"  # base64 of 32 bytes: the master key given by the operator


class UnwrapError(Exception):
    """A piece cannot be opened: wrong wrapping key, or damaged key material."""


class IntegrityError(Exception):
    """A piece's ciphertext does not match its HMAC tag."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def wrap(wrapping_key: bytes, data_key: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(wrapping_key).encrypt(nonce, data_key, _WRAP_AAD)


def unwrap(wrapping_key: bytes, wrapped: bytes) -> bytes:
    try:
        return AESGCM(wrapping_key).decrypt(wrapped[:12], wrapped[12:], _WRAP_AAD)
    except (InvalidTag, ValueError) as exc:
        raise UnwrapError("the data key does not unwrap with this key") from exc


def seal_secret(master_key: bytes, secret: str) -> str:
    """An access key's secret as stored: AES-256-GCM under the master key, base64."""
    nonce = secrets.token_bytes(12)
    return "1:" + _b64(nonce + AESGCM(master_key).encrypt(nonce, secret.encode(), _SECRET_AAD))


def open_secret(master_key: bytes, sealed: str) -> str:
    version, _, text = sealed.partition(":")
    try:
        if version != "1":
            raise ValueError(version)
        raw = _unb64(text)
        return AESGCM(master_key).decrypt(raw[:12], raw[12:], _SECRET_AAD).decode()
    except (InvalidTag, ValueError) as exc:
        raise UnwrapError("the secret does not open with this master key") from exc


def _keystream_cipher(key: bytes, iv: bytes, offset: int) -> Any:
    """An AES-CTR context positioned at byte ``offset`` of the keystream."""
    block, skip = divmod(offset, 16)
    counter = ((int.from_bytes(iv, "big") + block) % (1 << 128)).to_bytes(16, "big")
    ctx = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()  # CTR: encrypt == decrypt
    if skip:
        ctx.update(bytes(skip))
    return ctx


class Piece:
    """The key material of one data file (or inline body)."""

    __slots__ = ("key", "iv", "wrapped", "mac")

    def __init__(self, key: bytes, iv: bytes, wrapped: bytes, mac: bytes | None = None) -> None:
        self.key = key
        self.iv = iv
        self.wrapped = wrapped
        self.mac = mac

    @staticmethod
    def new(wrapping_key: bytes) -> Piece:
        key = secrets.token_bytes(KEY_SIZE)
        return Piece(key, secrets.token_bytes(IV_SIZE), wrap(wrapping_key, key))

    def encode(self) -> str:
        """``1:<wrapped key>:<iv>:<mac>`` (base64); stored in metadata."""
        assert self.mac is not None
        return ":".join((_VERSION, _b64(self.wrapped), _b64(self.iv), _b64(self.mac)))

    @staticmethod
    def decode(text: str, wrapping_key: bytes) -> Piece:
        try:
            version, wrapped, iv, mac = text.split(":")
            if version != _VERSION:
                raise ValueError(version)
            w, i, m = _unb64(wrapped), _unb64(iv), _unb64(mac)
        except ValueError as exc:
            raise UnwrapError("damaged key material") from exc
        return Piece(unwrap(wrapping_key, w), i, w, m)

    def _mac(self) -> hmac.HMAC:
        mac_key = hmac.new(self.key, _MAC_INFO, hashlib.sha256).digest()
        return hmac.new(mac_key, self.iv, hashlib.sha256)

    def sealer(self) -> Sealer:
        return Sealer(self)

    def opener(self, offset: int, length: int, total: int) -> Opener:
        """Decrypts ``length`` bytes read from ``offset``; the tag is checked
        when the read covers the whole piece of ``total`` bytes."""
        return Opener(self, offset, verify=offset == 0 and length == total)

    def encrypt_all(self, data: bytes) -> bytes:
        sealer = self.sealer()
        out = sealer.update(data)
        sealer.finish()
        return out

    def decrypt_all(self, data: bytes) -> bytes:
        opener = Opener(self, 0, verify=True)
        out = opener.update(data)
        opener.finish()
        return out


class Sealer:
    """Encrypts a piece front to back and computes its tag (``finish``)."""

    __slots__ = ("_piece", "_ctx", "_mac")

    def __init__(self, piece: Piece) -> None:
        self._piece = piece
        self._ctx = _keystream_cipher(piece.key, piece.iv, 0)
        self._mac = piece._mac()

    def update(self, data: bytes | memoryview) -> bytes:
        out = self._ctx.update(data)
        self._mac.update(out)
        return out

    def finish(self) -> None:
        self._piece.mac = self._mac.digest()


class Opener:
    """Decrypts a piece from some offset on; ``finish`` checks the tag when
    the whole piece was read."""

    __slots__ = ("_piece", "_ctx", "_mac")

    def __init__(self, piece: Piece, offset: int, verify: bool) -> None:
        self._piece = piece
        self._ctx = _keystream_cipher(piece.key, piece.iv, offset)
        self._mac = piece._mac() if verify and piece.mac is not None else None

    def update(self, data: bytes) -> bytes:
        if self._mac is not None:
            self._mac.update(data)
        return self._ctx.update(data)

    def finish(self) -> None:
        if self._mac is not None and not hmac.compare_digest(self._mac.digest(), self._piece.mac or b""):
            raise IntegrityError("encrypted data does not match its integrity tag")


class KeyRing:
    """The server's wrapping keys (SSE-S3 master key, named SSE-KMS keys),
    each a 0600 file under ``DATA_DIR/keys``, created on first use.  Creation
    is atomic (link of a fully written file), so processes sharing the data
    directory agree on every key."""

    def __init__(self, data_dir: str) -> None:
        self.dir = os.path.join(data_dir, KEYS_DIR)
        self._cache: dict[str, bytes] = {}

    def sse_s3(self) -> bytes:
        return self._get("sse-s3", "sse-s3")

    def master(self) -> bytes:
        """The key that seals access-key secrets (docs/iam.md): PAILS_MASTER_KEY
        if the operator gives one, else ``DATA_DIR/keys/master.key``."""
        given = os.environ.get(MASTER_KEY_ENV)
        if given:
            key = _unb64(given)
            if len(key) != KEY_SIZE:
                raise ValueError(f"{MASTER_KEY_ENV} is not the base64 of a 256-bit key")
            return key
        return self._get("master", "master")

    def kms(self, key_id: str) -> bytes:
        return self._get("kms-" + hashlib.sha256(key_id.encode()).hexdigest(), key_id)

    def _get(self, file_name: str, label: str) -> bytes:
        hit = self._cache.get(file_name)
        if hit is not None:
            return hit
        path = os.path.join(self.dir, file_name + ".key")
        try:
            key = self._read(path)
        except FileNotFoundError:
            key = self._create(path, label)
        self._cache[file_name] = key
        return key

    @staticmethod
    def _read(path: str) -> bytes:
        with open(path) as f:
            key = _unb64(json.load(f)["key"])
        if len(key) != KEY_SIZE:
            raise ValueError(f"{path}: not a 256-bit key")
        return key

    def _create(self, path: str, label: str) -> bytes:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        key = secrets.token_bytes(KEY_SIZE)
        tmp = f"{path}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"name": label, "key": _b64(key)}, f)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:  # another process created it first: use theirs
                return self._read(path)
            dfd = os.open(self.dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            return key
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
