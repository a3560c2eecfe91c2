"""``aiida-bzs services start|stop|status``: PostgreSQL + RabbitMQ + daemon, and a one-node Slurm cluster.

The logic lives in :mod:`aiida_bzs.services.stack`; see docs/scale_out.md.
"""

from __future__ import annotations

import json
import time

import click

from . import cmd_root

_COLOURS = {"started": "green", "created": "green", "running": "blue", "exists": "blue", "used": "cyan",
            "stopped": "green", "kept": "yellow", "failed": "red", "gone": "yellow", "skipped": "yellow", "warning": "red"}


def _echo_step(step) -> None:
    click.echo(f"{click.style(f'{step.status:8s}', fg=_COLOURS.get(step.status))} {step.what}  {step.detail}")


def _refuse(exc) -> click.ClickException:
    return click.ClickException(str(exc))


@cmd_root.group("services")
def cmd_services():
    """Services mode: PostgreSQL, RabbitMQ and the daemon (and --slurm: a one-node Slurm cluster over SSH)."""


@cmd_services.command("start")
@click.option("--profile", "profile", default=None, metavar="NAME",
              help="Profile to create or use (core.psql_dos + core.rabbitmq)  [default: bzs-services]")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1), help="Daemon workers.")
@click.option("--slurm/--no-slurm", default=False, show_default=True,
              help="Also a one-node Slurm cluster + munge + sshd on 127.0.0.1 and the computer slurm-ssh with codes.")
@click.option("--pg-port", type=int, default=None, help="PostgreSQL port  [default: 5432, or the profile's]")
@click.option("--rabbitmq-port", type=int, default=None, help="RabbitMQ AMQP port  [default: 5672, or the profile's]")
@click.option("--ssh-port", type=int, default=22, show_default=True, help="Port of the sshd on 127.0.0.1 (--slurm).")
@click.option("--pg-admin-password", envvar="BZS_PG_ADMIN_PASSWORD", default=None,
              help="Password of PostgreSQL's superuser `postgres`, for a server that takes no local socket "
                   "login as root (env BZS_PG_ADMIN_PASSWORD).")
@click.option("--reset-db-password", is_flag=True,
              help="Set the profile's database password again when PostgreSQL refuses it.")
@click.option("--drop-orphan-db", is_flag=True,
              help="For a new profile: drop its database aiida-NAME if one exists with tables that no profile of "
                   "this AiiDA configuration uses (left by a deleted configuration; a profile in another "
                   "AIIDA_PATH that uses it loses its data).")
@click.option("--sssp/--no-sssp", default=False, show_default=True, help="Let `aiida-bzs setup` try to download SSSP.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (the last line).")
def cmd_start(profile, workers, slurm, pg_port, rabbitmq_port, ssh_port, pg_admin_password, reset_db_password,
              drop_orphan_db, sssp, as_json):
    """Start what is missing of the services stack and set up the profile; safe to re-run.

    Installs missing Debian packages, starts PostgreSQL and RabbitMQ on 127.0.0.1 (a server that
    already runs is used as it is, never reconfigured), creates the profile (never the default)
    with the caching policy, runs `aiida-bzs setup` for it and starts its daemon. What it
    started is recorded in ~/.aiida-bzs/services/state.json for `stop`.
    """
    from ..services import stack

    begin = time.monotonic()
    try:
        report = stack.start(profile or stack.DEFAULT_PROFILE, workers=workers, slurm=slurm, pg_port=pg_port,
                             rabbitmq_port=rabbitmq_port, ssh_port=ssh_port, pg_admin_password=pg_admin_password,
                             reset_db_password=reset_db_password, drop_orphan_db=drop_orphan_db, sssp=sssp,
                             echo=None if as_json else _echo_step)
    except stack.ServicesError as exc:
        raise _refuse(exc) from exc
    seconds = time.monotonic() - begin
    if as_json:
        click.echo(json.dumps({"profile": report["profile"], "started": report["started"], "seconds": round(seconds, 1),
                               "steps": [vars(s) for s in report["steps"]]}))
        return
    started = ", ".join(report["started"]) or "nothing (all was running)"
    click.echo(f"services up in {seconds:.1f} s; started: {started}; use `verdi -p {report['profile']} ...` or "
               f"`aiida-bzs -p {report['profile']} ...`")


@cmd_services.command("stop")
@click.option("--only", multiple=True, metavar="COMPONENT",
              help="Stop only these (e.g. rabbitmq, postgresql, slurmd, daemon:bzs-services); repeatable.")
def cmd_stop(only):
    """Stop what `start` started (daemon, Slurm, munge, sshd, RabbitMQ, PostgreSQL) and nothing else."""
    from ..services import stack

    try:
        steps = stack.stop(list(only) or None, echo=_echo_step)
    except stack.ServicesError as exc:
        raise _refuse(exc) from exc
    if not steps:
        click.echo(f"nothing to stop: {stack.TOOL} started nothing that is recorded in {stack.STATE_DIR / 'state.json'}")
    failed = [s.what for s in steps if s.status == "failed"]
    if failed:
        raise click.ClickException(f"could not stop {', '.join(failed)} (see above); fix that and re-run "
                                   "`aiida-bzs services stop`")


@cmd_services.command("status")
@click.option("--profile", "profile", default=None, metavar="NAME", help="Show this profile only.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cmd_status(profile, as_json):
    """Each component (running?, who started it, where it listens) and the services profiles."""
    from ..services import stack

    try:
        report = stack.status(profile)
    except stack.ServicesError as exc:
        raise _refuse(exc) from exc
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"{'component':24s} {'running':8s} {'started by':45s} where")
    for row in report["components"]:
        running = click.style(f"{'yes' if row['running'] else 'no':8s}", fg="green" if row["running"] else None)
        click.echo(f"{row['component']:24s} {running} {row['started_by']:45s} {row['where']}"
                   + (f" (pid {row['pid']})" if row["pid"] else ""))
    for prof in report["profiles"]:
        if not prof["exists"]:
            click.echo(f"profile {prof['profile']}: not created (run `aiida-bzs services start`)")
            continue
        click.echo(f"profile {prof['profile']}{' (default)' if prof['default'] else ''}: {prof['storage']} "
                   f"{prof['database']}, broker {prof['broker']}; cached: {', '.join(prof['caching']) or 'nothing'}")
    click.echo(f"state: {report['state']}")
