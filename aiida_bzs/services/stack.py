"""The logic of ``aiida-bzs services start/stop/status`` (docs/scale_out.md).

Services mode runs the campaign the way a production AiiDA installation does: PostgreSQL for the
provenance database, RabbitMQ as the message broker, the daemon with several workers; and, with
``--slurm``, a one-node Slurm cluster on this machine reached over SSH on the loopback interface,
a real test of AiiDA's ``core.ssh`` transport and ``core.slurm`` scheduler.

Rules every function here keeps:

- **idempotent**: each step checks first and does only what is missing; a re-run reports
  ``running``/``exists`` and changes nothing;
- **never take over**: a service that already runs (started by someone else, or on other
  settings) is used when compatible and never reconfigured, its configuration and data files
  are never overwritten; ``stop`` stops only what ``start`` started, as recorded in
  :data:`STATE_DIR` ``/state.json`` (with the process id, checked again before any signal);
- **one line per refusal**: :class:`ServicesError` carries one line naming the fix.

No systemd is assumed: daemons are started by hand (``pg_ctlcluster``, ``rabbitmq-server
-detached``, ``munged``, ``slurmctld``, ``slurmd``, ``sshd``) and stopped by their PIDs.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

#: Where ``start`` records what it started (``state.json``), its sshd PID file and its lock.
STATE_DIR = Path(os.environ.get("BZS_SERVICES_DIR", str(Path.home() / ".aiida-bzs" / "services")))
#: Profile that ``start`` creates (``core.psql_dos`` storage + ``core.rabbitmq`` broker).
DEFAULT_PROFILE = "bzs-services"
#: Every service here listens on the loopback interface only (where its settings are ours).
LOOPBACK = "127.0.0.1"
PG_PORT = 5432
RABBITMQ_PORT = 5672
EPMD_PORT = 4369
SSH_PORT = 22
#: The AiiDA computer of the one-node Slurm cluster (transport core.ssh, scheduler core.slurm).
SLURM_COMPUTER = "slurm-ssh"
#: Its scratch folder (``{username}`` is filled in by AiiDA).
SLURM_WORKDIR = "/var/tmp/aiida-bzs-slurm/{username}"
#: Seconds between two SSH connections of the daemon to the computer (AiiDA's ``safe_interval``),
#: and the shortest interval between two ``squeue`` polls: small, since the cluster is this machine.
SLURM_SAFE_INTERVAL = 1.0
SLURM_POLL_INTERVAL = 2.0
SLURM_CONF = Path("/etc/slurm/slurm.conf")
#: First line of the slurm.conf this module writes; a slurm.conf without it is someone else's.
SLURM_MARKER = "# Written by aiida-bzs services"
SLURMCTLD_PID = Path("/run/slurmctld.pid")
SLURMD_PID = Path("/run/slurmd.pid")
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN = Path("/run/munge")
MUNGED_PID = MUNGE_RUN / "munged.pid"
#: The SSH key the daemon logs in with (a key of its own: the user's keys are left alone).
SSH_KEY = Path.home() / ".ssh" / "aiida-bzs_ed25519"


#: Debian packages per part of the stack.
PACKAGES = {
    "postgresql": ("postgresql",),
    "rabbitmq": ("rabbitmq-server",),
    "slurm": ("slurm-wlm", "munge", "openssh-server"),
}
#: The order in which ``stop`` stops things (daemons first, the database last).
STOP_ORDER = ("slurmd", "slurmctld", "munge", "sshd", "rabbitmq", "postgresql")
TOOL = "aiida-bzs services"


class ServicesError(RuntimeError):
    """A refusal of ``aiida-bzs services``: one line that names the fix."""


@dataclass
class Step:
    """One line of the report: ``what`` (a component), ``status``, ``detail``."""

    what: str
    status: str  # started, running, used, created, exists, stopped, kept, gone, skipped, warning
    detail: str = ""


# -- state ---------------------------------------------------------------------------------------

@dataclass
class State:
    """What ``start`` started (``components``), per profile (``profiles``), and the packages it installed."""

    components: dict = field(default_factory=dict)
    profiles: dict = field(default_factory=dict)
    packages_installed: list = field(default_factory=list)

    @classmethod
    def load(cls) -> State:
        path = STATE_DIR / "state.json"
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ServicesError(f"cannot read {path} ({exc}); move it away and re-run") from exc
        return cls(**{k: data.get(k, v) for k, v in asdict(cls()).items()})

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = STATE_DIR / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o600)
        tmp.replace(path)

    def record(self, name: str, **info) -> None:
        """Record that this tool started ``name`` now (with its pid, port, …) and save."""
        self.components[name] = {"started_by": TOOL, "at": _now(), **info}
        self.save()

    def forget(self, name: str) -> None:
        self.components.pop(name, None)
        self.save()

    def ours(self, name: str, pid: int | None) -> bool:
        """Whether ``name`` running as ``pid`` is the process this tool started."""
        entry = self.components.get(name)
        return bool(entry and pid and entry.get("pid") == pid)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextmanager
def locked():
    """Hold the services lock: two ``start``/``stop`` at once would race on the same daemons."""
    STATE_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(STATE_DIR / "lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another `{TOOL}` command to finish ...", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# -- processes, ports, commands ------------------------------------------------------------------

def pid_alive(pid: int | None, names: tuple[str, ...] = ()) -> bool:
    """Whether ``pid`` runs (a zombie does not) and, given ``names``, its command is one of them."""
    if not pid:
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if fields.get("State", "").strip().startswith("Z"):
        return False
    if not names:
        return True
    comm = fields.get("Name", "").strip()
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        argv0 = ""
    return any(n == comm or comm.startswith(n[:15]) or Path(argv0).name == n for n in names)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def port_open(port: int, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listeners(port: int) -> list[tuple[str, str, int | None]]:
    """``(address, process name, pid)`` of every TCP listener on ``port`` (from ``ss``; names need root)."""
    if shutil.which("ss") is None:
        return []
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=False).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        address = parts[3].rsplit(":", 1)[0]
        match = re.search(r'\("([^"]+)",pid=(\d+)', line)
        found.append((address, match.group(1) if match else "?", int(match.group(2)) if match else None))
    return found


def who_listens(port: int) -> str:
    """One phrase naming what listens on ``port`` (for messages)."""
    found = listeners(port)
    if not found:
        return f"another process listens on port {port}"
    return ", ".join(sorted({f"{name} (pid {pid}) on {addr}:{port}" for addr, name, pid in found}))


def not_loopback(port: int) -> list[str]:
    """Addresses other than loopback that a listener on ``port`` is bound to."""
    return sorted({addr for addr, _, _ in listeners(port) if addr not in (LOOPBACK, "[::1]", "localhost")})


def run(cmd: list[str], *, timeout: float = 120, env: dict | None = None, check: bool = True, fix: str = "",
        user: str | None = None, cwd: str | None = "/") -> subprocess.CompletedProcess:
    """Run ``cmd`` (as ``user`` via ``runuser`` when given); on failure raise :class:`ServicesError`
    with the command, its last line of output and ``fix``."""
    if user is not None and getpass.getuser() != user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False)
    except FileNotFoundError as exc:
        raise ServicesError(f"`{cmd[0]}` not found{'; ' + fix if fix else ''}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ServicesError(f"`{' '.join(cmd)}` did not finish in {timeout:.0f} s{'; ' + fix if fix else ''}") from exc
    if check and result.returncode != 0:
        lines = [line for line in (result.stderr + "\n" + result.stdout).splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit status {result.returncode}"
        raise ServicesError(f"`{' '.join(cmd)}` failed: {reason[:300]}{'; ' + fix if fix else ''}")
    return result


def wait_for(predicate, timeout: float, what: str, fix: str = "", interval: float = 0.5) -> None:
    """Poll ``predicate()`` until true; after ``timeout`` s raise a :class:`ServicesError` naming ``what``."""
    end = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > end:
            raise ServicesError(f"{what} not ready after {timeout:.0f} s{'; ' + fix if fix else ''}")
        time.sleep(interval)


def terminate(pid: int, names: tuple[str, ...], timeout: float = 30) -> bool:
    """SIGTERM ``pid`` (only while it still is one of ``names``) and wait for it to end."""
    if not pid_alive(pid, names):
        return False
    os.kill(pid, signal.SIGTERM)
    try:
        wait_for(lambda: not pid_alive(pid, names), timeout, f"process {pid} ({names[0]})")
    except ServicesError:
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid, names), 10, f"process {pid} ({names[0]}) after SIGKILL")
    return True


def is_root() -> bool:
    return os.geteuid() == 0


def venv_tool(name: str) -> str:
    """A console script of this environment (``verdi``, ``aiida-bzs``), found beside the interpreter."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def venv_env() -> dict:
    """The environment with this interpreter's ``bin`` first on ``PATH`` (``verdi daemon start`` looks
    ``verdi`` up on ``PATH`` to launch circus and the workers)."""
    path = os.environ.get("PATH", "")
    return {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), path]) if path else str(Path(sys.executable).parent)}


# -- Debian packages -----------------------------------------------------------------------------

def missing_packages(names) -> list[str]:
    """The Debian packages of ``names`` that are not installed."""
    missing = []
    for name in names:
        result = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", name],
                                capture_output=True, text=True, check=False)
        if result.stdout.strip() != "installed":
            missing.append(name)
    return missing


def install_packages(names, state: State) -> Step:
    """``apt-get install`` the missing ones of ``names`` (``apt-get update`` first only when needed)."""
    names = list(dict.fromkeys(names))
    if not names:
        return Step("packages", "exists", "servers already running; nothing to install")
    if shutil.which("dpkg-query") is None:
        raise ServicesError("this is not a Debian/Ubuntu system: install " + ", ".join(names) + " yourself")
    missing = missing_packages(names)
    if not missing:
        return Step("packages", "exists", " ".join(names))
    sudo = [] if is_root() else ["sudo", "-n"]
    if sudo and shutil.which("sudo") is None:
        raise ServicesError(f"Debian packages {' '.join(missing)} are missing and this user is not root: "
                            f"run `apt-get install {' '.join(missing)}` as root, then re-run")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    fix = f"install them by hand (`apt-get install {' '.join(missing)}`) and re-run"
    if run(install, env=env, timeout=900, check=False).returncode != 0:
        run([*sudo, "apt-get", "update", "-qq"], env=env, timeout=300, fix=fix)
        run(install, env=env, timeout=900, fix=fix)
    state.packages_installed = sorted(set(state.packages_installed) | set(missing))
    state.save()
    return Step("packages", "created", "installed " + " ".join(missing))


# -- PostgreSQL ----------------------------------------------------------------------------------

@dataclass
class Cluster:
    """A PostgreSQL cluster of Debian's postgresql-common (``pg_lsclusters``)."""

    version: str
    name: str
    port: int
    online: bool

    @property
    def label(self) -> str:
        return f"{self.version}/{self.name}"

    def pid(self) -> int | None:
        return (read_pid(Path(f"/var/run/postgresql/{self.version}-{self.name}.pid"))
                or read_pid(Path(f"/var/lib/postgresql/{self.version}/{self.name}/postmaster.pid")))


def pg_clusters() -> list[Cluster]:
    if shutil.which("pg_lsclusters") is None:
        return []
    out = run(["pg_lsclusters", "-h"], check=False).stdout
    clusters = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2].isdigit():
            clusters.append(Cluster(parts[0], parts[1], int(parts[2]), parts[3].startswith("online")))
    return clusters


def start_postgres(state: State, port: int) -> Step:
    """Start this machine's PostgreSQL cluster on ``port`` unless something serves that port already."""
    clusters = pg_clusters()
    cluster = next((c for c in clusters if c.port == port), None)
    if cluster is None:
        if port_open(port):
            return Step("postgresql", "used", f"{LOOPBACK}:{port}: {who_listens(port)}, not a cluster of this "
                                              "machine's postgresql-common; used as it is")
        if clusters:
            ports = ", ".join(f"{c.label} on port {c.port}" for c in clusters)
            raise ServicesError(f"no PostgreSQL cluster of this machine uses port {port} ({ports}): "
                                f"pass --pg-port with one of those ports")
        versions = sorted(p.name for p in Path("/usr/lib/postgresql").glob("*") if (p / "bin" / "postgres").exists())
        if not versions:
            raise ServicesError("PostgreSQL is not installed: install the Debian package postgresql and re-run")
        run(["pg_createcluster", versions[-1], "main", "--port", str(port)], fix="see `pg_lsclusters`")
        cluster = Cluster(versions[-1], "main", port, False)
    if cluster.online:
        pid = cluster.pid()
        ours = state.ours("postgresql", pid)
        return Step("postgresql", "running" if ours else "used",
                    f"cluster {cluster.label} on port {port}" + ("" if ours else " (started by someone else; used as it is)"))
    if port_open(port):
        raise ServicesError(f"port {port} is taken ({who_listens(port)}), so PostgreSQL cluster {cluster.label} "
                            f"cannot start: stop that process, or pass --pg-port with the port of a running server")
    run(["pg_ctlcluster", cluster.version, cluster.name, "start"], timeout=120,
        fix=f"see /var/log/postgresql/postgresql-{cluster.version}-{cluster.name}.log")
    wait_for(lambda: port_open(port), 60, f"PostgreSQL {cluster.label} on port {port}")
    state.record("postgresql", pid=cluster.pid(), port=port, cluster=cluster.label)
    return Step("postgresql", "started", f"cluster {cluster.label} on port {port} (pg_ctlcluster; its own config)")


def stop_postgres(entry: dict) -> bool:
    version, name = entry["cluster"].split("/")
    pid = entry.get("pid")
    if not pid_alive(pid, ("postgres",)):
        return False
    run(["pg_ctlcluster", version, name, "stop"], timeout=120, fix=f"stop it with `pg_ctlcluster {version} {name} stop`")
    wait_for(lambda: not pid_alive(pid, ("postgres",)), 60, f"PostgreSQL {entry['cluster']} to stop")
    return True


def pg_admin(sql: str, port: int, admin_password: str | None = None) -> list[tuple]:
    """Run ``sql`` as the PostgreSQL superuser: over TCP with ``admin_password`` (role ``postgres``),
    else, as root, through the local socket as the ``postgres`` system user (peer authentication)."""
    if admin_password:
        import psycopg

        try:
            with psycopg.connect(host=LOOPBACK, port=port, user="postgres", password=admin_password,
                                 dbname="postgres", autocommit=True, connect_timeout=10) as conn:
                cursor = conn.execute(sql)
                return cursor.fetchall() if cursor.description else []
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1]
            raise ServicesError(f"PostgreSQL at {LOOPBACK}:{port} refuses the superuser postgres ({reason}): "
                                "check --pg-admin-password") from exc
    if not is_root():
        raise ServicesError("creating the profile's database needs the PostgreSQL superuser: run as root, or pass "
                            "--pg-admin-password (the password of the role postgres)")
    result = run(["psql", "-X", "-q", "-t", "-A", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-p", str(port), "-d", "postgres",
                  "-c", sql], user="postgres", timeout=60, check=False)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ServicesError(f"psql as the postgres user on port {port} failed ({reason}): if this server does not "
                            "take local socket logins, pass --pg-admin-password (the password of the role postgres)")
    return [tuple(line.split("\t")) for line in result.stdout.splitlines() if line.strip()]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def pg_login_problem(user: str, password: str, port: int, dbname: str = "postgres") -> str | None:
    """Why ``user``/``password`` cannot log in to PostgreSQL on ``port`` (None: it can)."""
    import psycopg

    try:
        with psycopg.connect(host=LOOPBACK, port=port, user=user, password=password, dbname=dbname, connect_timeout=10):
            return None
    except psycopg.OperationalError as exc:
        return str(exc).strip().splitlines()[-1]


def ensure_database(profile: str, port: int, admin_password: str | None, state: State,
                    drop_orphan: bool = False) -> tuple[dict, Step]:
    """The role and database ``aiida-<profile>`` (as ``verdi presto`` names them) for a new profile.

    The database takes the cluster's own locale (``TEMPLATE template0``): ``verdi presto
    --use-postgres`` asks for ``en_US.UTF-8``, which fails where that locale is not generated.
    A database of that name that already holds tables is never reused: refused, or with
    ``drop_orphan`` (the profile is not in this AiiDA configuration) dropped and created empty.
    """
    name = f"aiida-{profile}"
    entry = state.profiles.setdefault(profile, {})
    password = entry.get("db_password") or secrets.token_hex(16)
    entry["db_password"] = password
    state.save()
    role, db = _quote_ident(name), _quote_ident(name)
    notes = []
    if not pg_admin(f"SELECT 1 FROM pg_roles WHERE rolname = {_quote_literal(name)}", port, admin_password):
        pg_admin(f"CREATE ROLE {role} LOGIN PASSWORD {_quote_literal(password)}", port, admin_password)
        notes.append(f"role {name}")
    elif pg_login_problem(name, password, port):
        # the role this tool names after the profile, left without its profile: give it our password
        pg_admin(f"ALTER ROLE {role} WITH LOGIN PASSWORD {_quote_literal(password)}", port, admin_password)
        notes.append(f"role {name} (password reset)")
    if not pg_admin(f"SELECT 1 FROM pg_database WHERE datname = {_quote_literal(name)}", port, admin_password):
        pg_admin(f"CREATE DATABASE {db} OWNER {role} ENCODING 'UTF8' TEMPLATE template0", port, admin_password)
        notes.append(f"database {name}")
    else:
        import psycopg

        with psycopg.connect(host=LOOPBACK, port=port, user=name, password=password, dbname=name) as conn:
            tables = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone()[0]
        if tables and not drop_orphan:
            raise ServicesError(f"database {name} already holds {tables} tables but no AiiDA profile {profile} uses it: "
                                f"drop it (`runuser -u postgres -- dropdb {name}`, or re-run with --drop-orphan-db) "
                                "or choose another --profile")
        if tables:
            pg_admin(f"DROP DATABASE {db} WITH (FORCE)", port, admin_password)
            pg_admin(f"CREATE DATABASE {db} OWNER {role} ENCODING 'UTF8' TEMPLATE template0", port, admin_password)
            notes.append(f"database {name} (orphan of {tables} tables dropped, --drop-orphan-db)")
    from aiida.manage.configuration.settings import AiiDAConfigDir

    config = {
        "database_engine": "postgresql_psycopg", "database_hostname": LOOPBACK, "database_port": port,
        "database_name": name, "database_username": name, "database_password": password,
        "repository_uri": (AiiDAConfigDir.get() / "repository" / profile).as_uri(),
    }
    return config, Step("database", "created" if notes else "exists", ", ".join(notes) or name)


# -- RabbitMQ ------------------------------------------------------------------------------------

def rabbitmq_login_problem(port: int) -> str | None:
    """Why AiiDA cannot open an AMQP connection as guest on ``127.0.0.1:port`` (None: it can)."""
    from aiida.brokers.rabbitmq.defaults import detect_rabbitmq_config

    try:
        detect_rabbitmq_config(host=LOOPBACK, port=port)
    except ConnectionError as exc:
        cause = exc.__cause__ or exc
        return f"{cause.__class__.__name__}: {str(cause)[:150]}"
    return None


def rabbitmq_consumer_timeout() -> str | None:
    """``consumer_timeout`` of the local RabbitMQ node (``undefined`` is what AiiDA needs); None if unknown."""
    if not is_root() or shutil.which("rabbitmqctl") is None:
        return None
    result = run(["rabbitmqctl", "eval", "application:get_env(rabbit, consumer_timeout)."], timeout=60, check=False)
    if result.returncode != 0:
        return None
    value = result.stdout.strip()
    if value in ("{ok,undefined}", "undefined", "{ok,false}"):
        return "undefined"
    match = re.fullmatch(r"\{ok,(\d+)\}", value)
    return f"{int(match.group(1)) / 60000:g} min" if match else value


def rabbitmq_env(port: int) -> dict:
    """Environment for ``rabbitmq-server``: AMQP, Erlang distribution and epmd on loopback, and
    ``consumer_timeout`` off (AiiDA keeps a task unacknowledged for as long as its process runs;
    RabbitMQ ≥ 3.8.15 would close the channel after 30 min). Set on the command line, so no file of
    ``/etc/rabbitmq`` is written."""
    return {
        **os.environ,
        "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
        "RABBITMQ_NODE_PORT": str(port),
        "ERL_EPMD_ADDRESS": LOOPBACK,
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
            "-rabbit consumer_timeout undefined -kernel inet_dist_use_interface {127,0,0,1}",
    }


def _rabbit_pid(port: int) -> int | None:
    return next((pid for _, name, pid in listeners(port) if name.startswith("beam")), None)


def start_rabbitmq(state: State, port: int) -> tuple[Step, bool]:
    """Start RabbitMQ on ``127.0.0.1:port`` unless it runs; a running one is checked and used as it is.

    :returns: the report, and whether ``consumer_timeout`` is known to be off.
    """
    if port_open(port):
        pid = _rabbit_pid(port)
        problem = rabbitmq_login_problem(port)
        if problem:
            raise ServicesError(f"{who_listens(port)} but AiiDA cannot log in to it as a RabbitMQ guest ({problem}): "
                                f"stop that process, or pass --rabbitmq-port with the port of a RabbitMQ server")
        ours = state.ours("rabbitmq", pid)
        notes = [] if ours else ["started by someone else; used as it is"]
        timeout = "undefined" if ours else rabbitmq_consumer_timeout()
        if timeout not in (None, "undefined"):
            notes.append(f"consumer_timeout is {timeout}: AiiDA processes running longer than that lose their "
                         "task; add [{rabbit, [{consumer_timeout, undefined}]}]. to /etc/rabbitmq/advanced.config "
                         "and restart RabbitMQ")
        wide = [] if ours else not_loopback(port)
        if wide:
            notes.append(f"listens on {', '.join(wide)} too (its own setting, left as it is)")
        detail = f"{LOOPBACK}:{port}" + (f" ({'; '.join(notes)})" if notes else "")
        return Step("rabbitmq", "running" if ours else "used", detail), timeout == "undefined"
    if shutil.which("rabbitmq-server") is None:
        raise ServicesError("rabbitmq-server is not installed: install the Debian package rabbitmq-server and re-run")
    if not is_root():
        raise ServicesError("starting RabbitMQ needs root (it runs as the rabbitmq user): run `aiida-bzs services "
                            "start` as root, or start RabbitMQ yourself and re-run")
    names = run(["epmd", "-names"], check=False, timeout=10).stdout if shutil.which("epmd") else ""
    if re.search(r"^name rabbit at port", names, re.MULTILINE):
        raise ServicesError(f"a RabbitMQ node runs on this machine but not on {LOOPBACK}:{port} (`epmd -names`): "
                            "pass --rabbitmq-port with its AMQP port, or stop it (`rabbitmqctl stop`)")
    epmd_before = port_open(EPMD_PORT)
    run(["rabbitmq-server", "-detached"], env=rabbitmq_env(port), timeout=60)
    wait_for(lambda: port_open(port), 120, f"RabbitMQ on {LOOPBACK}:{port}",
             fix="see /var/log/rabbitmq/ (startup_err, rabbit@*.log)")
    wait_for(lambda: rabbitmq_login_problem(port) is None, 60, "RabbitMQ AMQP login")
    state.record("rabbitmq", pid=_rabbit_pid(port), port=port, epmd_started=not epmd_before)
    return Step("rabbitmq", "started", f"{LOOPBACK}:{port}, epmd and distribution on loopback, consumer_timeout off"), True


def stop_rabbitmq(entry: dict) -> bool:
    pid = entry.get("pid")
    if not pid_alive(pid, ("beam.smp", "beam")):
        return False
    if run(["rabbitmqctl", "stop"], timeout=120, check=False).returncode != 0:
        terminate(pid, ("beam.smp", "beam"), timeout=60)
    wait_for(lambda: not pid_alive(pid, ("beam.smp", "beam")), 60, "RabbitMQ to stop")
    if entry.get("epmd_started") and shutil.which("epmd"):
        run(["epmd", "-kill"], check=False, timeout=10)  # refused while another Erlang node is registered
    return True


# -- the AiiDA profile and its daemon ------------------------------------------------------------

def get_config():
    from aiida.manage.configuration import get_config as _get_config

    return _get_config(create=True)


def load_profile(name: str):
    """Load profile ``name`` in this process (switching from whatever the command line loaded)."""
    from aiida.manage import get_manager

    manager = get_manager()
    current = manager.get_profile()
    if current is None or current.name != name:
        manager.load_profile(name, allow_switch=True)
    return manager.get_profile()


def check_profile(name: str) -> tuple[int, int, Step]:
    """An existing profile: psql_dos + RabbitMQ, and its stored password accepted. Returns its ports."""
    profile = get_config().get_profile(name)
    if profile.storage_backend != "core.psql_dos" or profile.process_control_backend != "core.rabbitmq":
        raise ServicesError(f"profile {name} exists with storage {profile.storage_backend} and broker "
                            f"{profile.process_control_backend}, not core.psql_dos + core.rabbitmq: choose another --profile")
    storage = profile.storage_config
    port = int(storage.get("database_port") or PG_PORT)
    broker_port = int(profile.process_control_config.get("broker_port") or RABBITMQ_PORT)
    return port, broker_port, Step("profile", "exists", f"{name}: core.psql_dos database {storage['database_name']} "
                                                        f"on port {port}, core.rabbitmq on port {broker_port}")


def check_profile_login(name: str, reset_password: bool, admin_password: str | None) -> Step | None:
    """Log in with the profile's stored credentials; with ``reset_password`` set them again as superuser."""
    storage = get_config().get_profile(name).storage_config
    user, password = storage["database_username"], storage["database_password"]
    port = int(storage.get("database_port") or PG_PORT)
    problem = pg_login_problem(user, password, port, storage["database_name"])
    if problem is None:
        return None
    if "password authentication failed" in problem and reset_password:
        pg_admin(f"ALTER ROLE {_quote_ident(user)} WITH LOGIN PASSWORD {_quote_literal(password)}", port, admin_password)
        return Step("database", "created", f"password of role {user} set again from profile {name}")
    if "password authentication failed" in problem:
        raise ServicesError(f"PostgreSQL on port {port} refuses the password that profile {name} stores for role {user}: "
                            f"re-run with --reset-db-password (sets it again as the postgres superuser)")
    raise ServicesError(f"profile {name} cannot reach its database {storage['database_name']} on port {port} as {user} "
                        f"({problem}): start that server, or re-run with --reset-db-password if the role is missing")


def create_services_profile(name: str, pg_port: int, rabbitmq_port: int, admin_password: str | None,
                            state: State, drop_orphan_db: bool = False) -> list[Step]:
    """A ``core.psql_dos`` + ``core.rabbitmq`` profile; never made the default profile."""
    from aiida.manage.configuration import create_profile, get_config_option

    storage_config, db_step = ensure_database(name, pg_port, admin_password, state, drop_orphan=drop_orphan_db)
    broker_config = {
        "broker_protocol": "amqp", "broker_username": "guest", "broker_password": "guest",
        "broker_host": LOOPBACK, "broker_port": rabbitmq_port, "broker_virtual_host": "",
    }
    config = get_config()
    create_profile(config, name=name, email=get_config_option("autofill.user.email") or "aiida@localhost",
                   storage_backend="core.psql_dos", storage_config=storage_config,
                   broker_backend="core.rabbitmq", broker_config=broker_config)
    config.store()
    return [db_step, Step("profile", "created", f"{name}: core.psql_dos on port {pg_port}, core.rabbitmq on port "
                                                f"{rabbitmq_port} (not made the default profile)")]


def set_caching_policy(name: str) -> Step:
    """The package's caching policy (common/install.py :func:`enable_caching`) in profile ``name``."""
    from ..common.install import enable_caching

    return enable_caching(name)


def set_rabbitmq_warning(name: str, timeout_off: bool) -> Step:
    """Silence AiiDA's "RabbitMQ ≥ 3.8.15 is not supported" warning in profile ``name`` only where the
    server's ``consumer_timeout`` is known to be off (the cause of that warning)."""
    config = get_config()
    current = config.get_option("warnings.rabbitmq_version", scope=name)
    if not timeout_off:
        if current is False:  # set while another server ran: warn again
            config.unset_option("warnings.rabbitmq_version", scope=name)
            config.store()
        return Step("rabbitmq warning", "kept", "consumer_timeout of this RabbitMQ is not known to be off: "
                                                "AiiDA keeps warning about its version")
    if current is False:
        return Step("rabbitmq warning", "exists", "off (consumer_timeout is off on this server)")
    config.set_option("warnings.rabbitmq_version", False, scope=name)
    config.store()
    return Step("rabbitmq warning", "created", "warnings.rabbitmq_version off (consumer_timeout is off on this server)")


def localhost_setup_done() -> bool:
    """Whether ``aiida-bzs setup`` has nothing left to do in the loaded profile (codes, families)."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from ..common.codes import (
        CODES,
        MPI_CODES,
        MPICH_COMPUTER,
        executable_path,
        mpi_executable_path,
    )
    from ..common.pseudos import FAMILIES

    wanted = [f"{n}@localhost" for n in CODES if executable_path(n) is not None]
    wanted += [f"{n}@{MPICH_COMPUTER}" for n in MPI_CODES if mpi_executable_path(n) is not None]
    try:
        for label in wanted:
            orm.load_code(label)
        for _, family in FAMILIES.values():
            orm.load_group(family)
    except NotExistent:
        return False
    return True


def run_bzs_setup(name: str, sssp: bool) -> Step:
    """``aiida-bzs --profile <name> setup``: the same codes and pseudo families as the embedded profile."""
    load_profile(name)
    if localhost_setup_done():
        return Step("aiida-bzs setup", "exists", "codes on localhost/localhost-mpich and pseudo families")
    cmd = [venv_tool("aiida-bzs"), "--profile", name, "setup", "--sssp" if sssp else "--no-sssp"]
    result = run(cmd, timeout=1800, check=False, cwd=None, env=venv_env())
    if result.returncode != 0:
        reason = ((result.stderr or result.stdout).strip().splitlines() or ["?"])[-1]
        raise ServicesError(f"`{' '.join(cmd[1:])}` failed: {reason[:200]}; run it by hand to see every step")
    created = sum(1 for line in result.stdout.splitlines() if line.startswith("created"))
    return Step("aiida-bzs setup", "created", f"{created} items created (codes on localhost, pseudo families)")


def daemon_client(name: str):
    from aiida.engine.daemon.client import DaemonClient

    return DaemonClient(get_config().get_profile(name))


def start_daemon(name: str, workers: int, state: State) -> Step:
    """``verdi -p <name> daemon start <workers>`` unless its daemon runs."""
    client = daemon_client(name)
    key = f"daemon:{name}"
    if client.is_daemon_running:
        pid = client.get_daemon_pid()
        ours = state.ours(key, pid)
        try:
            count = client.get_number_of_workers()
        except Exception:  # noqa: BLE001 - the count is only reported
            count = "?"
        return Step(key, "running" if ours else "used",
                    f"{count} workers" + ("" if ours else " (started by someone else; used as it is)"))
    run([venv_tool("verdi"), "-p", name, "daemon", "start", str(workers)], timeout=180, cwd=None, env=venv_env(),
        fix=f"see `verdi -p {name} daemon logshow`")
    state.record(key, pid=client.get_daemon_pid(), profile=name, workers=workers)
    return Step(key, "started", f"{workers} workers")


def stop_daemon(name: str, entry: dict) -> bool:
    client = daemon_client(name)
    if not client.is_daemon_running or client.get_daemon_pid() != entry.get("pid"):
        return False
    # --timeout: on a busy machine the default 2 s reports a failure while the daemon goes on stopping
    run([venv_tool("verdi"), "-p", name, "daemon", "stop", "--timeout", "120"], timeout=180, cwd=None,
        env=venv_env())
    return True


# -- the one-node Slurm cluster, munge and sshd --------------------------------------------------

def node_hardware() -> dict:
    """What ``slurmd -C`` sees of this node (NodeName, CPUs, Boards, …, RealMemory in MB)."""
    out = run(["slurmd", "-C"], timeout=30).stdout.splitlines()[0]
    return dict(item.split("=", 1) for item in out.split())


def slurm_conf_text(hardware: dict) -> str:
    """A minimal one-node slurm.conf: munge auth, no cgroups, cores as the consumable (memory is
    not, so several small jobs share the node), the node's memory less 10 % for the OS."""
    node = hardware["NodeName"]
    memory = int(int(hardware.get("RealMemory", 1024)) * 0.9)
    shape = " ".join(f"{k}={hardware[k]}" for k in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket",
                                                      "ThreadsPerCore") if k in hardware)
    return f"""{SLURM_MARKER} (one-node Slurm cluster on this machine); see docs/scale_out.md.
# Remove this file (while Slurm is stopped) to let `aiida-bzs services start --slurm` write it again.
ClusterName=bzs
SlurmctldHost={node}({LOOPBACK})
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile={SLURMCTLD_PID}
SlurmdPidFile={SLURMD_PID}
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={node} NodeAddr={LOOPBACK} {shape} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def slurm_conf_is_ours() -> bool:
    try:
        return SLURM_CONF.read_text().startswith(SLURM_MARKER)
    except OSError:
        return False


def write_slurm_conf(hardware: dict, daemons_running: bool) -> Step:
    """Write :data:`SLURM_CONF` when absent (or ours and out of date while Slurm is down); never someone else's."""
    text = slurm_conf_text(hardware)
    if SLURM_CONF.exists() and not slurm_conf_is_ours():
        if daemons_running:
            return Step("slurm.conf", "used", f"{SLURM_CONF} (not written by {TOOL}; used as it is)")
        raise ServicesError(f"{SLURM_CONF} exists and was not written by {TOOL}: start that Slurm yourself "
                            "(slurmctld; slurmd) and re-run, or move the file away")
    if SLURM_CONF.exists() and SLURM_CONF.read_text() == text:
        return Step("slurm.conf", "exists", str(SLURM_CONF))
    if SLURM_CONF.exists() and daemons_running:
        return Step("slurm.conf", "exists", f"{SLURM_CONF} (differs from this machine now; rewritten when Slurm is stopped)")
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SLURM_CONF.write_text(text)
    for folder in ("/var/lib/slurm/slurmctld", "/var/lib/slurm/slurmd", "/var/log/slurm"):
        Path(folder).mkdir(parents=True, exist_ok=True)
    return Step("slurm.conf", "created", f"{SLURM_CONF}: node {hardware['NodeName']}, {hardware.get('CPUs')} CPUs")


def munge_works() -> bool:
    if shutil.which("munge") is None:
        return False
    encode = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=False)
    return encode.returncode == 0 and subprocess.run(["unmunge"], input=encode.stdout, capture_output=True,
                                                     timeout=10, check=False).returncode == 0


def start_munge(state: State) -> Step:
    """munged as the munge user, with its key (created when missing: 1 KiB random, mode 400)."""
    pid = read_pid(MUNGED_PID)
    if pid_alive(pid, ("munged",)) or munge_works():
        ours = state.ours("munge", pid)
        return Step("munge", "running" if ours else "used", "munged" + ("" if ours else " (started by someone else)"))
    key_note = ""
    if not MUNGE_KEY.exists():
        MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
        MUNGE_KEY.write_bytes(os.urandom(1024))
        shutil.chown(MUNGE_KEY, "munge", "munge")
        MUNGE_KEY.chmod(0o400)
        key_note = f", new key {MUNGE_KEY}"
    MUNGE_RUN.mkdir(parents=True, exist_ok=True)
    shutil.chown(MUNGE_RUN, "munge", "munge")
    MUNGE_RUN.chmod(0o755)
    run(["/usr/sbin/munged"], user="munge", timeout=30, fix="see /var/log/munge/munged.log")
    wait_for(munge_works, 20, "munged")
    state.record("munge", pid=read_pid(MUNGED_PID))
    return Step("munge", "started", f"munged as user munge{key_note}")


def _slurm_node_state() -> str:
    result = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=20, check=False)
    return result.stdout.strip().splitlines()[0] if result.returncode == 0 and result.stdout.strip() else ""


def start_slurm(state: State) -> list[Step]:
    """slurm.conf, slurmctld and slurmd (each unless running); waits for the node to be usable."""
    steps = []
    ctld_pid, slurmd_pid = read_pid(SLURMCTLD_PID), read_pid(SLURMD_PID)
    ctld_up, slurmd_up = pid_alive(ctld_pid, ("slurmctld",)), pid_alive(slurmd_pid, ("slurmd",))
    hardware = node_hardware()
    steps.append(write_slurm_conf(hardware, ctld_up or slurmd_up))
    for name, up, pid, binary, pidfile in (("slurmctld", ctld_up, ctld_pid, "slurmctld", SLURMCTLD_PID),
                                           ("slurmd", slurmd_up, slurmd_pid, "slurmd", SLURMD_PID)):
        if up:
            ours = state.ours(name, pid)
            steps.append(Step(name, "running" if ours else "used",
                              f"pid {pid}" + ("" if ours else " (started by someone else; used as it is)")))
            continue
        run([f"/usr/sbin/{binary}"], timeout=60, fix=f"see /var/log/slurm/{binary}.log")
        wait_for(lambda p=pidfile, b=binary: pid_alive(read_pid(p), (b,)), 30, binary, fix=f"see /var/log/slurm/{binary}.log")
        state.record(name, pid=read_pid(pidfile))
        steps.append(Step(name, "started", f"pid {read_pid(pidfile)}"))
    usable = ("idle", "mixed", "allocated", "completing")
    try:
        wait_for(lambda: _slurm_node_state().rstrip("*~#") in usable, 30, "the Slurm node")
    except ServicesError:
        node_state = _slurm_node_state()
        if slurm_conf_is_ours() and any(s in node_state for s in ("down", "drain")):
            run(["scontrol", "update", f"NodeName={hardware['NodeName']}", "State=RESUME"], timeout=30)
            wait_for(lambda: _slurm_node_state().rstrip("*~#") in usable, 30, "the Slurm node after RESUME",
                     fix="see `scontrol show node` and /var/log/slurm/")
        else:
            raise ServicesError(f"the Slurm node is {node_state or 'unknown'}: see `sinfo -R` and /var/log/slurm/") from None
    steps.append(Step("slurm node", "exists", f"{hardware['NodeName']}: {_slurm_node_state()}, "
                                              f"{hardware.get('CPUs')} CPUs, partition debug"))
    return steps


def ensure_ssh_key() -> Step:
    """:data:`SSH_KEY` (ed25519, no passphrase) and its public half in ``~/.ssh/authorized_keys``."""
    notes = []
    SSH_KEY.parent.mkdir(mode=0o700, exist_ok=True)
    if not SSH_KEY.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{TOOL} on {socket.gethostname()}",
             "-f", str(SSH_KEY)], timeout=30)
        notes.append(f"new key {SSH_KEY}")
    public = Path(str(SSH_KEY) + ".pub").read_text().strip()
    authorized = SSH_KEY.parent / "authorized_keys"
    lines = authorized.read_text().splitlines() if authorized.exists() else []
    if not any(public.split()[1] in line for line in lines):
        with authorized.open("a") as handle:
            handle.write(("\n" if lines and not authorized.read_text().endswith("\n") else "") + public + "\n")
        authorized.chmod(0o600)
        notes.append(f"added to {authorized}")
    return Step("ssh key", "created" if notes else "exists", ", ".join(notes) or str(SSH_KEY))


def ssh_command(port: int, *remote: str) -> list[str]:
    return ["ssh", "-i", str(SSH_KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o",
            "IdentitiesOnly=yes", "-o", "ConnectTimeout=10", "-p", str(port), f"{getpass.getuser()}@{LOOPBACK}", *remote]


def start_sshd(state: State, port: int) -> Step:
    """An sshd on ``127.0.0.1:port`` (host keys made when missing) unless that port is served already."""
    if port_open(port):
        pid = next((p for _, n, p in listeners(port) if n == "sshd"), None)
        ours = state.ours("sshd", pid)
        return Step("sshd", "running" if ours else "used",
                    f"{LOOPBACK}:{port}" + ("" if ours else f" ({who_listens(port)}; used as it is)"))
    if not is_root():
        raise ServicesError(f"nothing serves SSH on {LOOPBACK}:{port} and starting sshd needs root: run as root, "
                            "or pass --ssh-port with the port of a running sshd")
    run(["ssh-keygen", "-A"], timeout=60)  # only the missing host keys
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    pidfile = STATE_DIR / "sshd.pid"
    run(["/usr/sbin/sshd", "-p", str(port), "-o", f"ListenAddress={LOOPBACK}", "-o", f"PidFile={pidfile}"],
        timeout=30, fix="check `/usr/sbin/sshd -t`")
    # sshd opens the port before it writes its PID file: record the PID of the sshd that listens
    def listening() -> bool:
        pid = read_pid(pidfile)
        if not port_open(port) or pid is None:
            return False
        return shutil.which("ss") is None or pid in {p for _, n, p in listeners(port) if n == "sshd"}

    wait_for(listening, 20, f"sshd on {LOOPBACK}:{port} with its PID file")
    state.record("sshd", pid=read_pid(pidfile), port=port)
    return Step("sshd", "started", f"{LOOPBACK}:{port} (system sshd_config, listening on loopback only)")


def ensure_known_host(port: int) -> Step:
    """A ``~/.ssh/known_hosts`` entry for the sshd on ``127.0.0.1:port`` (AiiDA's transport rejects unknown hosts)."""
    known = SSH_KEY.parent / "known_hosts"
    host = LOOPBACK if port == 22 else f"[{LOOPBACK}]:{port}"
    if known.exists() and run(["ssh-keygen", "-F", host, "-f", str(known)], check=False, timeout=10).returncode == 0:
        step = Step("known_hosts", "exists", host)
    else:
        keys = run(["ssh-keyscan", "-p", str(port), "-t", "ed25519,ecdsa,rsa", LOOPBACK], timeout=30).stdout
        if not keys.strip():
            raise ServicesError(f"ssh-keyscan got no host key from {LOOPBACK}:{port}: is it an sshd?")
        with known.open("a") as handle:
            handle.write(keys if keys.endswith("\n") else keys + "\n")
        known.chmod(0o600)
        step = Step("known_hosts", "created", f"{host} added to {known}")
    result = run(ssh_command(port, "squeue", "-h", "-o", "%i"), check=False, timeout=60)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["?"])[-1]
        if "host key" in reason.lower() or "REMOTE HOST IDENTIFICATION" in result.stderr:
            raise ServicesError(f"the host key of {host} in {known} is stale ({reason}): remove it with "
                                f"`ssh-keygen -R '{host}'` and re-run")
        raise ServicesError(f"`ssh -p {port} {LOOPBACK} squeue` fails ({reason}): that sshd must accept the key "
                            f"{SSH_KEY}, and squeue must work there; or pass --ssh-port with another sshd")
    return step


def setup_slurm_computer(profile: str, port: int, cpus: int) -> list[Step]:
    """The computer :data:`SLURM_COMPUTER` (core.ssh + core.slurm on 127.0.0.1) and the codes of
    ``aiida-bzs setup`` on it (:func:`~aiida_bzs.common.install.setup_codes`: same executables,
    prepend texts and MPI flags as on localhost: this is the same filesystem)."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from ..common.codes import configure_computer
    from ..common.install import setup_codes

    load_profile(profile)
    try:
        computer = orm.load_computer(SLURM_COMPUTER)
        if (computer.transport_type, computer.scheduler_type, computer.hostname) != ("core.ssh", "core.slurm", LOOPBACK):
            raise ServicesError(f"computer {SLURM_COMPUTER} exists in profile {profile} with "
                                f"{computer.transport_type}/{computer.scheduler_type} on {computer.hostname}: "
                                f"relabel it (`verdi -p {profile} computer relabel {SLURM_COMPUTER} NEW`) and re-run")
        status = "exists"
    except NotExistent:
        computer = orm.Computer(
            label=SLURM_COMPUTER, hostname=LOOPBACK, transport_type="core.ssh", scheduler_type="core.slurm",
            description="one-node Slurm cluster on this machine, over SSH on loopback (aiida-bzs services)",
            workdir=SLURM_WORKDIR,
        ).store()
        status = "created"
    configure_computer(computer)  # mpirun of the system OpenMPI, as pw.x's localhost computer
    computer.set_default_mpiprocs_per_machine(cpus)
    computer.set_minimum_job_poll_interval(SLURM_POLL_INTERVAL)
    auth = {
        "username": getpass.getuser(), "port": port, "look_for_keys": False, "key_filename": str(SSH_KEY),
        "allow_agent": False, "key_policy": "RejectPolicy", "load_system_host_keys": True, "timeout": 30,
        "compress": True, "safe_interval": SLURM_SAFE_INTERVAL, "use_login_shell": True,
    }
    user = orm.User.collection.get_default()
    if not computer.is_user_configured(user) or any(
            computer.get_authinfo(user).get_auth_params().get(k) != v for k, v in auth.items()):
        computer.configure(user, **auth)
    with computer.get_transport() as transport:
        scheduler = computer.get_scheduler()
        scheduler.set_transport(transport)
        jobs = scheduler.get_jobs()
    steps = [Step(f"computer {SLURM_COMPUTER}", status,
                  f"core.ssh {getpass.getuser()}@{LOOPBACK}:{port} + core.slurm ({len(jobs)} jobs queued), "
                  f"{cpus} cores, workdir {SLURM_WORKDIR}")]
    return steps + setup_codes(computer)


# -- start, stop, status -------------------------------------------------------------------------

def start(profile: str = DEFAULT_PROFILE, workers: int = 2, slurm: bool = False, pg_port: int | None = None,
          rabbitmq_port: int | None = None, ssh_port: int = SSH_PORT, pg_admin_password: str | None = None,
          reset_db_password: bool = False, drop_orphan_db: bool = False, sssp: bool = False, echo=None) -> dict:
    """Bring up the services stack for ``profile`` (see the module docstring); returns the report.

    :param drop_orphan_db: a new profile whose database ``aiida-<profile>`` exists with tables (left by
        a configuration since deleted) gets it dropped and created empty, instead of a refusal.
    :param echo: called with each :class:`Step` as it completes (the command line prints them).
    :returns: ``{"profile", "steps": [Step…], "started": [names started by this call]}``.
    """
    steps: list[Step] = []

    def add(*new: Step):
        for step in new:
            steps.append(step)
            if echo:
                echo(step)

    with locked():
        state = State.load()
        config = get_config()
        exists = profile in config.profile_names
        if exists:
            profile_pg, profile_rmq, profile_step = check_profile(profile)
            if pg_port not in (None, profile_pg) or rabbitmq_port not in (None, profile_rmq):
                raise ServicesError(f"profile {profile} uses PostgreSQL port {profile_pg} and RabbitMQ port {profile_rmq}: "
                                    "drop --pg-port/--rabbitmq-port, or choose another --profile")
            pg_port, rabbitmq_port = profile_pg, profile_rmq
        pg_port, rabbitmq_port = pg_port or PG_PORT, rabbitmq_port or RABBITMQ_PORT
        # packages only for what is not served already (a server elsewhere needs none here)
        wanted = [*(PACKAGES["postgresql"] if not port_open(pg_port) else ()),
                  *(PACKAGES["rabbitmq"] if not port_open(rabbitmq_port) else ()),
                  *(PACKAGES["slurm"] if slurm else ())]
        add(install_packages(wanted, state))
        add(start_postgres(state, pg_port))
        rabbit_step, timeout_off = start_rabbitmq(state, rabbitmq_port)
        add(rabbit_step)
        if exists:
            add(profile_step)
            fixed = check_profile_login(profile, reset_db_password, pg_admin_password)
            if fixed:
                add(fixed)
        else:
            add(*create_services_profile(profile, pg_port, rabbitmq_port, pg_admin_password, state,
                                         drop_orphan_db=drop_orphan_db))
        add(set_caching_policy(profile))
        add(set_rabbitmq_warning(profile, timeout_off))
        add(run_bzs_setup(profile, sssp))
        if slurm:
            add(start_munge(state))
            add(*start_slurm(state))
            add(ensure_ssh_key())
            add(start_sshd(state, ssh_port))
            add(ensure_known_host(ssh_port))
            cpus = int(node_hardware().get("CPUs", os.cpu_count() or 1))
            add(*setup_slurm_computer(profile, ssh_port, cpus))
        add(start_daemon(profile, workers, state))
        state.profiles.setdefault(profile, {})["slurm"] = slurm or state.profiles.get(profile, {}).get("slurm", False)
        state.save()
    started = [s.what for s in steps if s.status == "started"]
    return {"profile": profile, "steps": steps, "started": started}


def stop(only: list[str] | None = None, echo=None) -> list[Step]:
    """Stop what ``start`` started (daemons, then Slurm, munge, sshd, RabbitMQ, PostgreSQL), each only
    while it still runs as the recorded process; ``only`` limits it to those component names."""
    steps: list[Step] = []

    def add(step: Step):
        steps.append(step)
        if echo:
            echo(step)

    with locked():
        state = State.load()
        names = [n for n in state.components if n.startswith("daemon:")] + [n for n in STOP_ORDER if n in state.components]
        if only:
            unknown = sorted(set(only) - set(names))
            names = [n for n in names if n in only]
            for name in unknown:
                add(Step(name, "skipped", f"not started by {TOOL}"))
        stoppers = {
            "slurmd": lambda e: terminate(e["pid"], ("slurmd",)),
            "slurmctld": lambda e: terminate(e["pid"], ("slurmctld",)),
            "munge": lambda e: terminate(e["pid"], ("munged",)),
            "sshd": lambda e: terminate(e["pid"], ("sshd",)),
            "rabbitmq": stop_rabbitmq,
            "postgresql": stop_postgres,
        }
        for name in names:
            entry = state.components[name]
            try:
                if name.startswith("daemon:"):
                    profile = entry["profile"]
                    stopped = profile in get_config().profile_names and stop_daemon(profile, entry)
                else:
                    stopped = stoppers[name](entry)
            except (ServicesError, OSError) as exc:  # keep the record: a later `stop` tries again
                add(Step(name, "failed", str(exc)))
                continue
            state.forget(name)
            add(Step(name, "stopped" if stopped else "gone",
                     f"pid {entry.get('pid')}" if stopped else "no longer running as the process it started"))
    return steps


def status(profile: str | None = None) -> dict:
    """Each component: running?, who started it, where it listens; and the services profiles."""
    state = State.load()
    comps = state.components
    pg_port = comps.get("postgresql", {}).get("port", PG_PORT)
    rmq_port = comps.get("rabbitmq", {}).get("port", RABBITMQ_PORT)
    ssh_port = comps.get("sshd", {}).get("port", SSH_PORT)

    def row(name, running, pid=None, where=""):
        entry = comps.get(name)
        if entry and running and (pid is None or entry.get("pid") == pid):
            by = f"{TOOL} at {entry['at']}"
        elif running:
            by = "someone else"
        else:
            by = f"{TOOL} (no longer running)" if entry else "-"
        return {"component": name, "running": bool(running), "started_by": by, "where": where,
                "pid": pid if running else None}

    pg_running = port_open(pg_port)
    pg_pid = next((c.pid() for c in pg_clusters() if c.port == pg_port and c.online), None)
    rows = [
        row("postgresql", pg_running, pg_pid, f"{LOOPBACK}:{pg_port}"),
        row("rabbitmq", port_open(rmq_port), _rabbit_pid(rmq_port), f"{LOOPBACK}:{rmq_port}"),
    ]
    munged = read_pid(MUNGED_PID)
    ctld, slurmd = read_pid(SLURMCTLD_PID), read_pid(SLURMD_PID)
    sshd = next((p for _, n, p in listeners(ssh_port) if n == "sshd"), None)
    rows += [
        row("munge", pid_alive(munged, ("munged",)), munged, str(MUNGE_RUN)),
        row("slurmctld", pid_alive(ctld, ("slurmctld",)), ctld, f"port 6817 ({SLURM_CONF})"),
        row("slurmd", pid_alive(slurmd, ("slurmd",)), slurmd, "port 6818"),
        row("sshd", port_open(ssh_port), sshd, f"{LOOPBACK}:{ssh_port}"),
    ]
    config = get_config()
    names = [profile] if profile else sorted(set(state.profiles) | {DEFAULT_PROFILE})
    profiles = []
    for name in names:
        if name not in config.profile_names:
            profiles.append({"profile": name, "exists": False})
            continue
        client = daemon_client(name)
        running = client.is_daemon_running
        pid = client.get_daemon_pid() if running else None
        workers = None
        if running:
            try:
                workers = client.get_number_of_workers()
            except Exception:  # noqa: BLE001 - only reported
                workers = None
        rows.append(row(f"daemon:{name}", running, pid, f"{workers} workers" if workers is not None else ""))
        prof = config.get_profile(name)
        profiles.append({
            "profile": name, "exists": True, "storage": prof.storage_backend,
            "database": f"{prof.storage_config.get('database_name')} on port {prof.storage_config.get('database_port')}",
            "broker": f"{prof.process_control_backend} on port {prof.process_control_config.get('broker_port')}",
            "caching": list(config.get_option("caching.enabled_for", scope=name)),
            "default": config.default_profile_name == name,
        })
    return {"components": rows, "profiles": profiles, "state": str(STATE_DIR / "state.json")}
