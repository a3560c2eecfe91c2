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
