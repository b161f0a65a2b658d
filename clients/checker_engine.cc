#include "clients/checker_engine.h"

#include <fstream>

#include "lab/errors.h"

namespace tlslab {

struct CheckerEngine::Worker {
  EventLoop loop;
  SslCtxPtr ctx;
  CheckerCounters counters;
  LatencyHistogram latency;
  LatencyHistogram first_round_latency;
  std::array<std::string, kAllCheckFailures.size()> failure_examples;
  CheckerThreadContext context;
  std::vector<std::unique_ptr<CheckActor>> actors;
  std::vector<size_t> actor_index;  // global backend index of each actor (first-check spread)
};

std::vector<Endpoint> LoadTargets(const CheckerConfig& config) {
  std::vector<Endpoint> targets;
  for (const std::string& t : config.targets) targets.push_back(ParseHostPort(t));
  if (!config.targets_file.empty()) {
    std::ifstream in(config.targets_file);
    if (!in) throw UsageError("--targets-file: cannot read '" + config.targets_file + "'");
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      size_t hash = line.find('#');
      if (hash != std::string::npos) line.resize(hash);
      size_t b = line.find_first_not_of(" \t\r");
      if (b == std::string::npos) continue;
      size_t e = line.find_last_not_of(" \t\r");
      try {
        targets.push_back(ParseHostPort(line.substr(b, e - b + 1)));
      } catch (const UsageError& err) {
        throw UsageError(config.targets_file + ":" + std::to_string(number) + ": " + err.what());
      }
    }
  }
  if (targets.empty()) {
    throw UsageError("no target to check: give --target HOST:PORT or --targets-file FILE");
  }
  if (targets.size() > static_cast<size_t>(kMaxBackends)) {
    throw UsageError("too many targets: " + std::to_string(targets.size()) + ", at most " +
                     std::to_string(kMaxBackends));
  }
  return targets;
}

CheckerEngine::CheckerEngine(const Config& config, std::vector<Endpoint> targets, Trace* trace)
    : config_(config),
      plan_(EffectiveCheckPlan(config.checker)),
      targets_(std::move(targets)),
      first_round_(targets_.size()) {
  // One check at a time per backend: at most one socket each (lab/net.h CheckDescriptors).
  EnsureFileLimit(CheckDescriptors(targets_.size()));
  if (!config_.tls.keylog_file.empty())
    keylog_ = std::make_unique<KeylogFile>(config_.tls.keylog_file);
  if (!config_.output.pcap_file.empty())
    pcap_ = std::make_unique<PcapWriter>(config_.output.pcap_file);
  const size_t threads = static_cast<size_t>(config_.checker.threads);
  for (size_t t = 0; t < threads; ++t) {
    auto w = std::make_unique<Worker>();
    w->ctx = MakeClientContext(config_.tls);
    InstallCheckerCallbacks(w->ctx.get());
    if (keylog_) keylog_->Attach(w->ctx.get());
    w->context.loop = &w->loop;
    w->context.ctx = w->ctx.get();
    w->context.config = &config_.checker;
    w->context.plan = plan_;
    w->context.counters = &w->counters;
    w->context.latency = &w->latency;
    w->context.first_round_latency = &w->first_round_latency;
    w->context.first_round = &first_round_;
    w->context.failure_examples = &w->failure_examples;
    w->context.trace = trace;
    w->context.pcap = pcap_.get();
    w->context.checks_started = &checks_started_;
    w->context.max_checks = config_.max_checks;
    workers_.push_back(std::move(w));
  }
  for (size_t i = 0; i < targets_.size(); ++i) {
    Worker& w = *workers_[i % threads];
    w.actors.push_back(std::make_unique<CheckActor>(w.context, targets_[i]));
    w.actor_index.push_back(i);
  }
}

CheckerEngine::~CheckerEngine() {
  Stop();
  Join();
  for (auto& worker : workers_) worker->context.waiting.clear();  // before the actors go
}

void CheckerEngine::Start(Clock::time_point deadline) {
  const Clock::time_point start = Clock::now();
  const auto inter = std::chrono::duration_cast<Clock::duration>(config_.checker.inter);
  const auto n = static_cast<Clock::rep>(targets_.size());
  for (auto& worker : workers_) {
    for (size_t k = 0; k < worker->actors.size(); ++k) {
      // HAProxy spreads the first checks over one interval (start_checks) so that N backends
      // give N / inter checks per second from the start rather than a burst.
      const auto offset = inter * static_cast<Clock::rep>(worker->actor_index[k]) / n;
      worker->actors[k]->Begin(start + offset);
    }
  }
  for (auto& worker : workers_) {
    threads_.emplace_back([this, w = worker.get(), deadline] {
      size_t slot = cpu_.RegisterCurrentThread();
      w->loop.Run(deadline);
      // Let the checks in flight at the deadline end (bounded by their own timeout), so the
      // server sees whole checks rather than connections cut mid-handshake.
      w->context.draining = true;
      const auto grace = std::chrono::duration_cast<Clock::duration>(
          EffectiveCheckTimeout(config_.checker) + Millis(100));
      w->loop.Run(Clock::now() + grace, [w] { return w->context.in_flight == 0; });
      cpu_.FinishCurrentThread(slot);
    });
  }
}

void CheckerEngine::Stop() {
  for (auto& worker : workers_) worker->loop.Stop();
}

void CheckerEngine::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

bool CheckerEngine::BudgetSpent() const {
  return config_.max_checks != 0 && Totals().checks >= config_.max_checks;
}

CheckerTotals CheckerEngine::Totals() const {
  CheckerTotals totals;
  for (const auto& worker : workers_) totals.Accumulate(worker->counters);
  return totals;
}

LatencyHistogram CheckerEngine::Latency() const {
  LatencyHistogram merged;
  for (const auto& worker : workers_) merged.Merge(worker->latency);
  return merged;
}

LatencyHistogram CheckerEngine::FirstRoundLatency() const {
  LatencyHistogram merged;
  for (const auto& worker : workers_) merged.Merge(worker->first_round_latency);
  return merged;
}

std::optional<Clock::time_point> CheckerEngine::FirstRoundEnd() const {
  const int64_t ns = first_round_.end_ns.load(std::memory_order_acquire);
  if (ns < 0) return std::nullopt;
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

std::array<std::string, kAllCheckFailures.size()> CheckerEngine::FailureExamples() const {
  std::array<std::string, kAllCheckFailures.size()> out;
  for (const auto& worker : workers_) {
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i].empty()) out[i] = worker->failure_examples[i];
    }
  }
  return out;
}

size_t CheckerEngine::BackendsUp() const {
  size_t up = 0;
  for (const auto& worker : workers_) {
    for (const auto& actor : worker->actors) up += actor->health().up() ? 1 : 0;
  }
  return up;
}

std::vector<ServerCheckFigures> CheckerEngine::PerServer() const {
  std::vector<ServerCheckFigures> out(targets_.size());
  for (const auto& worker : workers_) {
    for (size_t k = 0; k < worker->actors.size(); ++k) {
      const CheckActor& actor = *worker->actors[k];
      const ServerCheckCounters& c = actor.counters();
      out[worker->actor_index[k]] = {actor.target().text, c.checks.Get(), c.failures.Get(),
                                     c.up_down.Get(), c.up.load(std::memory_order_relaxed)};
    }
  }
  return out;
}

}  // namespace tlslab
