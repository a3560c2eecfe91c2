"""Protocol presets (YAML): the one place where the campaign's numbers live."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml


class ProtocolError(KeyError):
    """An unknown protocol name was requested."""


@cache
def _load(name: str) -> dict:
    text = (resources.files(__name__) / f"{name}.yaml").read_text()
    return yaml.safe_load(text)


def get_protocol(name: str, protocol: str | None = None) -> dict:
    """Return a copy of preset ``protocol`` (default: the file's ``default_protocol``) of ``name``.yaml."""
    data = _load(name)
    protocol = protocol or data["default_protocol"]
    try:
        return dict(data["protocols"][protocol])
    except KeyError:
        raise ProtocolError(
            f"unknown {name} protocol {protocol!r}; choose one of {sorted(data['protocols'])}"
        ) from None


def list_protocols(name: str) -> list[str]:
    """Names of the presets in ``name``.yaml."""
    return sorted(_load(name)["protocols"])


class ProtocolOverrideError(ValueError):
    """An override names a key that the protocol does not have (a typo would be silently ignored).

    ``path`` is the dotted key, ``allowed`` the keys that exist at that level.
    """

    def __init__(self, message: str, path: str = "", allowed: list[str] | None = None):
        super().__init__(message)
        self.path, self.allowed = path, list(allowed or [])


def recursive_merge(base: dict, overrides: dict | None, strict: bool = False, _path: str = "", *,
                    replace: tuple[str, ...] = (), open_keys: tuple[str, ...] = ()) -> dict:
    """Return ``base`` updated by ``overrides``, nested dictionaries merged key by key.

    The one merge used for every protocol override in the package. Neither argument is modified.
    With ``strict`` an override key that ``base`` lacks (at any depth) raises
    :class:`ProtocolOverrideError` naming its full path and the keys that exist, so a misspelt
    override fails before any job starts instead of being ignored. Values that are not
    dictionaries (lists included) replace the base value whole. Keys named in ``replace`` (at any
    depth) are replaced whole even when both are dictionaries; keys in ``open_keys`` merge without
    the strict check below them (for sections whose keys belong to another program).
    """
    merged = {key: (recursive_merge(value, None) if isinstance(value, dict) else value)
              for key, value in base.items()}
    for key, value in (overrides or {}).items():
        path = f"{_path}.{key}" if _path else str(key)
        if key not in merged:
            if strict:
                allowed = sorted(map(str, base))
                raise ProtocolOverrideError(f"unknown protocol override {path!r}; keys here: {allowed}", path, allowed)
            merged[key] = recursive_merge(value, None) if isinstance(value, dict) else value
        elif isinstance(value, dict) and isinstance(merged[key], dict) and key not in replace:
            merged[key] = recursive_merge(merged[key], value, strict and key not in open_keys, path,
                                          replace=replace, open_keys=open_keys)
        else:
            merged[key] = recursive_merge(value, None) if isinstance(value, dict) else value
    return merged
