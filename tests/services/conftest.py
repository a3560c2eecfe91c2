"""The ``services`` marker: tests that start PostgreSQL, RabbitMQ, Slurm and sshd on this machine.

Registered here (not in pyproject.toml); such tests run only with ``BZS_SERVICES_TEST=1``.
"""

import os

import pytest

#: ``AIIDA_PATH`` as the user had it: aiida's autouse ``aiida_config`` fixture points it at a
#: temporary folder for the session, but services mode works on the user's own configuration.
_USER_AIIDA_PATH = os.environ.get("AIIDA_PATH")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "services: starts the services stack (`aiida-bzs services start --slurm`); runs only with BZS_SERVICES_TEST=1",
    )


@pytest.fixture
def user_env() -> dict:
    """The environment for ``aiida-bzs``/``verdi`` subprocesses, with the user's ``AIIDA_PATH``."""
    env = dict(os.environ)
    env.pop("AIIDA_PATH", None)
    if _USER_AIIDA_PATH is not None:
        env["AIIDA_PATH"] = _USER_AIIDA_PATH
    return env
