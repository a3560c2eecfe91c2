"""Shared pieces of the command line: profile loading with an error that names the fix."""

from __future__ import annotations

import functools

import click


def with_profile(func):
    """Load the selected (or default) AiiDA profile before ``func``; fail with the fix, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from aiida.common.exceptions import ConfigurationError, LockedProfileError
        from aiida.manage import get_manager

        manager = get_manager()
        try:
            if manager.get_profile() is None:
                manager.load_profile()
            manager.get_profile_storage()
        except (ConfigurationError, LockedProfileError) as exc:
            reason = str(exc).splitlines()[0]
            raise click.ClickException(
                f"no usable AiiDA profile ({reason}); run ./setup.sh or `verdi presto`"
            ) from exc
        return func(*args, **kwargs)

    return wrapper
