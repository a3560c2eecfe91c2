"""Services mode: PostgreSQL + RabbitMQ + the AiiDA daemon, and a one-node Slurm cluster over SSH.

:mod:`aiida_bzs.services.stack` holds the logic of ``aiida-bzs services start/stop/status``
(docs/scale_out.md); it starts only what is not running, records what it started under
``~/.aiida-bzs/services/`` and stops only that.
"""
