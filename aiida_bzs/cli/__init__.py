"""The ``aiida-bzs`` command line: one sub-command per capability of the campaign.

Each capability lives in its own module of this package and attaches itself to
:data:`cmd_root` (imported at the bottom, as aiida-quantumespresso does).
"""

import click
from aiida.cmdline.groups import VerdiCommandGroup
from aiida.cmdline.params import options, types


@click.group(
    "aiida-bzs",
    cls=VerdiCommandGroup,
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
