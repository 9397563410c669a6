#pragma once
// The core/cache BackendSpec a Policy panel setting runs as (every policy but dense). Its own file
// because backend_factory.h pulls in libtorch, which the GUI's headers keep out; the worker and
// the defaults test (Studio = CLI) include it.
#include "app/studio/studio_types.h"
#include "core/cache/backend_factory.h"

namespace skv::studio {

BackendSpec studio_backend_spec(const PolicySettings& p);

}  // namespace skv::studio
