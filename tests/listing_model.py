"""ListObjects pages by definition, for the tests of both stores' listing code."""

from __future__ import annotations

Entries = tuple[list[str], list[str], bool, str | None]


def listing_model(keys: list[str], markers: tuple[str, ...], prefix: str, delimiter: str, after: str,
           max_keys: int) -> Entries:
    """The page by definition: entries (keys, or common prefixes with a key
    after ``after`` that ``after`` is not inside) in order, the first max_keys."""
    entries: list[tuple[str, bool]] = []
    for k in sorted(set(keys) - set(markers)):  # code point order is UTF-8 byte order
        if not k.startswith(prefix):
            continue
        idx = k.find(delimiter, len(prefix)) if delimiter else -1
        if idx < 0:
            if k > after:
                entries.append((k, False))
            continue
        cp = k[:idx + len(delimiter)]
        if k > after and not after.startswith(cp) and (not entries or entries[-1] != (cp, True)):
            entries.append((cp, True))
    if max_keys == 0:
        return [], [], False, None  # as S3: an empty page, not truncated
    page = entries[:max_keys]
    return ([e for e, p in page if not p], [e for e, p in page if p], len(entries) > max_keys,
            page[-1][0] if page else None)
