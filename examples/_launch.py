"""Shared by the example scripts: run a builder here or submit it to the daemon, and print what it made."""

from __future__ import annotations


def launch(builder, submit_it: bool):
    """``submit`` (needs `verdi daemon start`) and return at once, or run here and print every output's PK."""
    from aiida.engine import run_get_node, submit

    if submit_it:
        node = submit(builder)
        print(f"submitted {node.process_label}<{node.pk}>; follow it with `verdi process report {node.pk}`")
        return node
    results, node = run_get_node(builder)
    print(f"{node.process_label}<{node.pk}> finished [{node.exit_status}] {node.exit_message or 'ok'}")
    for name, item in _flat(results):
        print(f"  {name}: {type(item).__name__}<{item.pk}>")
    print(f"inspect: `verdi process show {node.pk}`")
    return node


def _flat(outputs, prefix: str = ""):
    """(dotted link label, node) of nested output namespaces."""
    for name, value in sorted(outputs.items()):
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value
