// profiles() and versions(): the profile rows and the version stamp as Python dicts, with the
// keys of `tlslab profiles --json` and of the "versions" object of every JSON document.
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "lab/profiles.h"
#include "lab/report.h"

namespace py = pybind11;

namespace tlslab::bindings {
namespace {

py::str Str(std::string_view s) { return py::str(s.data(), s.size()); }

py::dict Fate(const FateRow& row) {
  py::dict d;
  d["close_notify"] = Str(Name(row.close_notify));
  d["eof"] = Str(Name(row.eof));
  d["reset"] = Str(Name(row.reset));
  d["alert"] = Str(Name(row.alert));
  d["timeout"] = Str(Name(row.timeout));
  return d;
}

py::dict Preset(const CheckPreset& p) {
  py::dict d;
  d["close"] = Str(Name(p.close));
  d["read_after_handshake"] = p.read_after_handshake;
  return d;
}

py::dict Profiles() {
  py::list servers, checkers;
  for (const ServerProfile& p : ServerProfiles()) {
    py::dict fate;
    fate["session-id"] = Fate(p.session_id);
    fate["ticket"] = Fate(p.ticket);
    fate["psk-stateless"] = Fate(p.psk_stateless);
    fate["psk-stateful"] = Fate(p.psk_stateful);
    py::dict d;
    d["name"] = Str(p.name);
    d["aliases"] = Str(p.aliases);
    d["emulates"] = Str(p.emulates);
    d["source"] = Str(p.source);
    d["verified_here"] = p.verified_here;
    d["tickets_supported"] = p.tickets_supported;
    d["fate"] = fate;
    servers.append(d);
  }
  for (const CheckerProfile& p : CheckerProfiles()) {
    py::dict d;
    d["name"] = Str(p.name);
    d["emulates"] = Str(p.emulates);
    d["source"] = Str(p.source);
    d["verified_here"] = p.verified_here;
    d["reuse"] = p.reuse;
    d["connect"] = Preset(p.connect);
    d["http"] = Preset(p.http);
    checkers.append(d);
  }
  py::dict out;
  out["server"] = servers;
  out["checker"] = checkers;
  return out;
}

}  // namespace

void RegisterProfiles(py::module_& m) {
  m.def("profiles", &Profiles,
        "Server and checker profiles, as `tlslab profiles --json` prints them.");
  m.def(
      "versions", [] { return py::module_::import("json").attr("loads")(Versions().dump()); },
      "tlslab version, git commit and OpenSSL version of this build.");
}

}  // namespace tlslab::bindings
