"""The ``aiida-bzs`` command line: one sub-command per capability of the campaign.

Each capability lives in its own module of this package and attaches itself to
:data:`cmd_root` (imported at the bottom, as aiida-quantumespresso does). Every refusal a
sub-command lets through (a validator at launch, a missing code, …) ends as one ``Error:`` line
(:func:`aiida_bzs.cli.utils.refusal_message`), whichever sub-command raised it.
"""

import click
from aiida.cmdline.groups import VerdiCommandGroup
from aiida.cmdline.params import options, types


class BzsCommandGroup(VerdiCommandGroup):
    """``verdi``-style group whose sub-commands report refusals in one line, not a traceback (a
    failed process's traceback is shortened to its last line on the console, see
    :func:`~aiida_bzs.cli.utils.short_process_tracebacks`)."""

    def invoke(self, ctx):
        from .utils import refusals_as_click_errors, short_process_tracebacks

        with refusals_as_click_errors(), short_process_tracebacks():
            return super().invoke(ctx)


@click.group(
    "aiida-bzs",
    cls=BzsCommandGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@options.PROFILE(type=types.ProfileParamType(load_profile=True), expose_value=False)
def cmd_root():
    """aiida-bzs: the BaZrS3 ML-potential campaign (DFT, ACE, MD, analysis, scattering) in AiiDA."""


# Sub-commands register themselves on ``cmd_root`` when imported.
from . import setup  # noqa: E402,F401
from . import demo  # noqa: E402,F401
from . import structures  # noqa: E402,F401
from . import scatter  # noqa: E402,F401
from . import analysis  # noqa: E402,F401
from . import ace  # noqa: E402,F401
from . import generate  # noqa: E402,F401
from . import label  # noqa: E402,F401
from . import dataset  # noqa: E402,F401
from . import md  # noqa: E402,F401
from . import reference  # noqa: E402,F401
from . import grain_boundary  # noqa: E402,F401
from . import gb_energy  # noqa: E402,F401  (attaches `gb energy` to the gb group)
from . import gb_dft  # noqa: E402,F401  (attaches `gb dft` to the gb group)
from . import polycrystal  # noqa: E402,F401
from . import services  # noqa: E402,F401
from . import campaign  # noqa: E402,F401
from . import report  # noqa: E402,F401
from . import export  # noqa: E402,F401  (`export` and `graph`)
