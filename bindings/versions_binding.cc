// versions(): the version stamp of every JSON document ("versions"), as a Python dict.
//
// Profiles are not bound here: their JSON shape lives in app/profiles_command.cc, and a second
// copy in the binding would drift from it; tlslab.profiles() runs `tlslab profiles --json`.
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "lab/report.h"

namespace py = pybind11;

namespace tlslab::bindings {

void RegisterVersions(py::module_& m) {
  m.def(
      "versions", [] { return py::module_::import("json").attr("loads")(Versions().dump()); },
      "tlslab version, git commit and OpenSSL version of this build.");
}

}  // namespace tlslab::bindings
