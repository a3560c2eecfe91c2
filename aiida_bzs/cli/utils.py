"""Shared pieces of the command line: profile loading with an error that names the fix."""

from __future__ import annotations

import functools
import re

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


def launch(builder, submit: bool):
    """Run ``builder`` in this process (returns the node, failing loudly) or submit it to the daemon.

    Submitting returns ``None`` after printing the PK; ``submit()`` needs `verdi daemon start`.
    """
    from aiida.engine import run_get_node
    from aiida.engine import submit as submit_process

    if submit:
        node = submit_process(builder)
        click.echo(f"submitted {node.process_label} pk {node.pk}; follow with `verdi process report {node.pk}`")
        return None
    _, node = run_get_node(builder)
    if not node.is_finished_ok:
        raise click.ClickException(
            f"{node.process_label} pk {node.pk} failed: [{node.exit_status}] "
            f"{node.exit_message}; see `verdi process report {node.pk}`"
        )
    return node


def load_typed_node(identifier: str, node_class):
    """Load node ``identifier`` (pk, UUID or label) and check it is a ``node_class``; else a usage error."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    try:
        node = orm.load_node(identifier)
    except (NotExistent, MultipleObjectsError, ValueError) as exc:
        raise click.BadParameter(f"no single node {identifier!r}: {exc}") from exc
    if not isinstance(node, node_class):
        raise click.BadParameter(f"node {identifier} is a {type(node).__name__}, not a {node_class.__name__}")
    return node


def unique_link_label(text: str, taken: set[str]) -> str:
    """A link-label-safe key made from ``text``, unique among ``taken`` (which it joins).

    Used to key structures in a workchain's dynamic namespace from file names or node labels.
    """
    key = re.sub(r"\W+", "_", text).strip("_") or "structure"
    if key[0].isdigit():
        key = f"s_{key}"
    base, k = key, 2
    while key in taken:
        key, k = f"{base}_{k}", k + 1
    taken.add(key)
    return key
