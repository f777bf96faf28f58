/* framework/core/pipeline_impl.h - what other parts of the core may see of
 * a pipeline (internal to libsocfw). */
#ifndef SOCFW_CORE_PIPELINE_IMPL_H
#define SOCFW_CORE_PIPELINE_IMPL_H

#include "core/yamltree.h"
#include "socfw/pipeline.h"

/* The document after --set overrides (borrowed; NULL when p is NULL). */
const ynode *socfw_pipeline_root_node(const socfw_pipeline *p);

#endif
