// Server: the virtual backends of `tlslab serve`, started in this process, so that Python code
// (a notebook's own client, a `tlslab check` process) can point at their ports and read the
// server's counters live. Built from a CoreConfig (the fields of `tlslab serve`).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

#include "bindings/bindings.h"
#include "lab/errors.h"
#include "lab/flags.h"
#include "lab/metrics.h"
#include "lab/metrics_server.h"
#include "lab/report.h"
#include "servers/server_engine.h"

namespace py = pybind11;

namespace tlslab::bindings {
namespace {

class Server {
 public:
  explicit Server(const BoundConfig& bound) : config_(bound.config) {
    if (config_.output.trace) trace_ = std::make_unique<Trace>(stderr);
    {
      py::gil_scoped_release nogil;         // building contexts and certificates takes a while
      SignalsBlockedForNewThreads blocked;  // the event loops leave signals to Python
      // --metrics first, as `tlslab serve` does: a port in use is refused before the backends
      // listen. Each scrape reads the live counters (no 1 Hz monitor here).
      metrics_ = StartMetricsServer(config_.output.metrics, [this] { return Families(); });
      std::lock_guard lock(mutex_);  // the metrics thread may look at engine_ already
      engine_ = std::make_unique<ServerEngine>(config_, trace_.get());
      engine_->Start();
    }
    started_ = Clock::now();
    for (const Endpoint& ep : engine_->endpoints()) {
      ports_.push_back(ep.port());
      targets_.push_back(ep.text);
    }
  }

  ~Server() { Close(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // close() and stats() may run in different Python threads at once: close() releases the GIL
  // while the loops stop (it crashed in CpuMeter::TotalNs). mutex_ guards
  // engine_; both take it without the GIL, so neither can deadlock against the other.
  void Close() {
    py::gil_scoped_release nogil;
    {
      // First, and without mutex_: the metrics thread takes mutex_ while it is joined here.
      std::lock_guard metrics_lock(metrics_mutex_);
      metrics_.reset();
    }
    std::lock_guard lock(mutex_);
    if (!engine_) return;
    engine_->Stop();
    engine_->Join();
    engine_.reset();
  }

  py::object Stats() const {
    ServerTotals t;
    uint64_t cpu_ns = 0;
    bool open = false;
    {
      py::gil_scoped_release nogil;
      std::lock_guard lock(mutex_);
      open = engine_ != nullptr;
      if (open) {
        t = engine_->Totals();
        cpu_ns = engine_->CpuNs();
      }
    }
    if (!open) throw RuntimeError("the server is closed");  // raised with the GIL held
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    return ToPython(ToJson(ServerFigures{t, seconds, cpu_ns}));
  }

  // The server side's families for --metrics, on the metrics thread; none once closed.
  std::vector<MetricFamily> Families() const {
    std::lock_guard lock(mutex_);
    if (!engine_) return {};
    MetricsInput in;
    in.server = true;
    in.now.server = engine_->Totals();
    in.now.server_cpu_ns = engine_->CpuNs();
    in.backends = engine_->PerBackend();
    return LabMetricFamilies(in);
  }

  const std::vector<int>& ports() const { return ports_; }
  const std::vector<std::string>& targets() const { return targets_; }
  bool closed() const {
    py::gil_scoped_release nogil;
    std::lock_guard lock(mutex_);
    return !engine_;
  }

 private:
  Config config_;
  std::unique_ptr<Trace> trace_;
  mutable std::mutex mutex_;
  std::unique_ptr<ServerEngine> engine_;  // guarded by mutex_
  Clock::time_point started_;
  std::vector<int> ports_;
  std::vector<std::string> targets_;
  std::mutex metrics_mutex_;
  std::unique_ptr<MetricsServer> metrics_;  // --metrics, guarded by metrics_mutex_; stopped first
};

}  // namespace

void RegisterServer(py::module_& m) {
  py::class_<Server>(m, "Server", "Virtual TLS backends (`tlslab serve` flags) in this process.")
      .def(py::init<const BoundConfig&>(), py::arg("config"),
           "Builds and starts the backends; raises UsageError (ValueError) or LabRuntimeError.")
      .def("close", &Server::Close, "Stops the event loops and closes the listeners.")
      .def("stats", &Server::Stats,
           "The server's figures since the start (lab/report.h ServerFigures): the keys of "
           "`tlslab serve --json`.")
      .def_property_readonly("ports", &Server::ports)
      .def_property_readonly("targets", &Server::targets)
      .def_property_readonly("closed", &Server::closed);
}

}  // namespace tlslab::bindings
