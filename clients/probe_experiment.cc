// The probe's experiment: per row a baseline, then the cells (clients/probe.h describes the
// plan). Connections come from the transport (probe_transport.h); the verdict is elsewhere
// (probe_verdict.cc), pure.
#include <poll.h>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include "clients/probe.h"
#include "clients/probe_transport.h"
#include "lab/errors.h"
#include "lab/tls_context.h"

namespace tlslab {
namespace {

using Clock = std::chrono::steady_clock;

// Whether `session` can be offered for this row; `why` says what is missing.
bool Resumable(ProbeMechanism mechanism, SSL_SESSION* session, std::string& why) {
  unsigned int id_len = 0;
  if (session != nullptr) SSL_SESSION_get_id(session, &id_len);
  switch (mechanism) {
    case ProbeMechanism::kSessionId:
      why = "the server sends an empty session ID: it keeps no session cache";
      return id_len > 0;
    case ProbeMechanism::kTicket:
      why = "the server issues no TLS 1.2 ticket";
      return session != nullptr && SSL_SESSION_has_ticket(session) == 1;
    case ProbeMechanism::kPsk:
      why = "the server sends no NewSessionTicket after the handshake";
      return session != nullptr && SSL_SESSION_has_ticket(session) == 1;
  }
  return false;
}

// Runs the rows one after the other; owns the client contexts and the counters.
class Prober {
 public:
  Prober(const ProbeConfig& config, Trace* trace)
      : config_(config), target_(ParseHostPort(config.target)), trace_(trace) {
    if (!config.tls.keylog_file.empty()) {
      keylog_ = std::make_unique<KeylogFile>(config.tls.keylog_file);
    }
    if (!config.pcap_file.empty()) pcap_ = std::make_unique<PcapWriter>(config.pcap_file);
  }

  ProbeResult Run() {
    const Clock::time_point start = Clock::now();
    result_.target = target_.text;
    std::optional<StepFailure> first_refusal;
    for (ProbeMechanism mechanism : kAllProbeMechanisms) {
      if (!Wanted(mechanism)) continue;
      RowResult& row = result_.rows.emplace_back();
      row.mechanism = mechanism;
      if (mechanism == ProbeMechanism::kTicket && result_.rows.size() > 1 &&
          result_.rows[result_.rows.size() - 2].status == RowStatus::kUnsupported) {
        row.status = RowStatus::kUnsupported;  // same version as session-id: no need to ask again
        row.detail = result_.rows[result_.rows.size() - 2].detail;
        continue;
      }
      bool first_connection = true;
      Step failed = ProbeRow(row, first_connection);
      if (Stopping()) {  // whatever failed, it failed because every wait now ends at once
        if (first_connection) result_.rows.pop_back();
        result_.interrupted = true;
        result_.reach = Reach::kFailed;
        result_.failure = "interrupted (SIGINT or SIGTERM) after " +
                          std::to_string(result_.connections) + " connections";
        break;
      }
      if (!failed) {
        spoke_tls_ = heard_tls_ = true;
        continue;
      }
      // The row's first connection failed. A server that has spoken TLS (here or in an
      // alert) and refuses this row's version: the row is unsupported. Otherwise the target
      // is down or not TLS; and anything later is the probe failing halfway.
      const bool refused = failed->reach == Reach::kHandshakeFailed ||
                           (heard_tls_ && failed->reach == Reach::kNotTls);
      if (first_connection && refused) {
        row.status = RowStatus::kUnsupported;
        row.detail = failed->what;
        heard_tls_ = heard_tls_ || failed->reach == Reach::kHandshakeFailed;
        if (!first_refusal) first_refusal = failed;
        continue;
      }
      if (first_connection) result_.rows.pop_back();  // nothing was learnt for this row
      result_.reach = first_connection && !spoke_tls_ ? failed->reach : Reach::kFailed;
      result_.failure =
          first_connection ? failed->what : std::string(Name(mechanism)) + ": " + failed->what;
      break;
    }
    if (result_.reach == Reach::kTls && !spoke_tls_ && first_refusal) {
      result_.reach = Reach::kHandshakeFailed;
      result_.failure = first_refusal->what;
    }
    result_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(result_);
  }

 private:
  bool Wanted(ProbeMechanism mechanism) const {
    const bool tls13 = mechanism == ProbeMechanism::kPsk;
    switch (config_.tls.version) {
      case TlsVersion::kAuto:
        return true;
      case TlsVersion::kTls12:
        return !tls13;
      case TlsVersion::kTls13:
        return tls13;
    }
    return true;
  }

  SslCtxPtr RowContext(ProbeMechanism mechanism) const {
    TlsConfig tls = config_.tls;
    switch (mechanism) {
      case ProbeMechanism::kSessionId:
        tls.version = TlsVersion::kTls12;
        tls.tickets = false;  // SSL_OP_NO_TICKET: no SessionTicket extension in the hello
        break;
      case ProbeMechanism::kTicket:
        tls.version = TlsVersion::kTls12;
        tls.tickets = true;
        break;
      case ProbeMechanism::kPsk:
        tls.version = TlsVersion::kTls13;
        tls.tickets = true;
        break;
    }
    SslCtxPtr ctx = MakeClientContext(tls);
    InstallProbeCallbacks(ctx.get());
    if (keylog_) keylog_->Attach(ctx.get());
    return ctx;
  }

  std::unique_ptr<ProbeConnection> NewConnection(const std::string& label) {
    ++result_.connections;
    auto conn = std::make_unique<ProbeConnection>(
        config_, target_, ctx_.get(), trace_, static_cast<uint64_t>(result_.connections), label);
    conn->SetPcap(pcap_.get());
    return conn;
  }

  // True once the stop fd is readable (it stays so: a signalfd is never read here).
  bool Stopping() const {
    if (config_.stop_fd < 0) return false;
    pollfd p{config_.stop_fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
  }

  // The pause after a close, ended early by the stop fd.
  void Pause() const {
    if (config_.pause.count() <= 0) return;
    if (config_.stop_fd < 0) {
      std::this_thread::sleep_for(config_.pause);
      return;
    }
    pollfd p{config_.stop_fd, POLLIN, 0};
    poll(&p, 1, static_cast<int>(config_.pause.count()));
  }

  // The baseline, then the cells. `first_connection` stays true while the row's first
  // connection has not succeeded.
  Step ProbeRow(RowResult& row, bool& first_connection) {
    ctx_ = RowContext(row.mechanism);
    const std::string label = std::string(Name(row.mechanism)) + " baseline";
    auto first = NewConnection(label);
    if (Step failed = first->Open(nullptr, true)) return failed;
    first_connection = false;
    row.version = first->version();
    SslSessionPtr session = first->TakeSession();
    first->Close(CloseMode::kCloseNotify);
    if (!Resumable(row.mechanism, session.get(), row.detail)) {
      row.status = RowStatus::kNoSession;
      return std::nullopt;
    }
    Pause();
    auto second = NewConnection(label);
    if (Step failed = second->Open(session.get(), false)) return failed;
    const bool resumed = second->resumed();
    second->Close(CloseMode::kCloseNotify);
    if (!resumed) {
      row.status = RowStatus::kNoResumption;
      row.detail = "the server keeps no session for this mechanism";
      return std::nullopt;
    }
    row.status = RowStatus::kProbed;
    row.detail.clear();
    // Attempts interleave the close kinds, so that a drift over time (a cache filling up, a
    // ticket key rotating) spreads over every column instead of landing on one.
    for (int attempt = 1; attempt <= config_.repeat; ++attempt) {
      for (size_t k = 0; k < kProbeCloseKinds.size(); ++k) {
        if (Step failed = Attempt(row, k, attempt)) {
          failed->what = std::string(Name(kProbeCloseKinds[k])) + " attempt " +
                         std::to_string(attempt) + ": " + failed->what;
          return failed;
        }
      }
    }
    return std::nullopt;
  }

  // A full handshake closed as kProbeCloseKinds[k], then a connection offering its session.
  Step Attempt(RowResult& row, size_t k, int attempt) {
    const CloseKind kind = kProbeCloseKinds[k];
    const std::string label = std::string(Name(row.mechanism)) + " " + std::string(Name(kind)) +
                              " " + std::to_string(attempt) + "/" + std::to_string(config_.repeat);
    auto fresh = NewConnection(label);
    if (Step failed = fresh->Open(nullptr, true)) return failed;
    SslSessionPtr session = fresh->TakeSession();
    if (fresh->server_closed()) ++row.server_closed_first;
    fresh->Close(CloseModeFor(kind));
    Pause();
    CellResult& cell = row.cells[k];
    ++cell.attempts;
    std::string why;
    if (!Resumable(row.mechanism, session.get(), why)) {
      if (trace_ != nullptr) {
        trace_->Line("probe", static_cast<uint64_t>(result_.connections), label,
                     "nothing to offer: " + why);
      }
      return std::nullopt;
    }
    auto again = NewConnection(label);
    if (Step failed = again->Open(session.get(), false)) return failed;
    const bool resumed = again->resumed();
    again->Close(CloseMode::kCloseNotify);
    if (resumed) ++cell.resumed;
    if (trace_ != nullptr) {
      trace_->Line("probe", static_cast<uint64_t>(result_.connections), label,
                   resumed
                       ? "=> resumed: the server kept the session after " + std::string(Name(kind))
                       : "=> full handshake: the server dropped the session after " +
                             std::string(Name(kind)));
    }
    return std::nullopt;
  }

  const ProbeConfig& config_;
  Endpoint target_;
  Trace* trace_;
  std::unique_ptr<KeylogFile> keylog_;
  std::unique_ptr<PcapWriter> pcap_;
  SslCtxPtr ctx_;  // the current row's client context
  ProbeResult result_;
  bool spoke_tls_ = false;  // some row completed a handshake
  bool heard_tls_ = false;  // ... or the server at least answered in TLS (an alert)
};

}  // namespace

void ValidateProbe(const ProbeConfig& config) {
  if (config.repeat < 1 || config.repeat > kMaxProbeRepeat) {
    throw UsageError("--repeat: bad value '" + std::to_string(config.repeat) +
                     "'; expected a whole number from 1 to " + std::to_string(kMaxProbeRepeat));
  }
  if (config.pause.count() < 0 || config.pause > kMaxProbePause) {
    throw UsageError("--pause: bad value '" + FormatDuration(config.pause) +
                     "'; expected a duration from 0 to " + FormatDuration(kMaxProbePause));
  }
  if (!config.checker.timeout || config.checker.timeout->count() < 1 ||
      *config.checker.timeout > Millis{60000}) {
    throw UsageError("--timeout: expected a duration from 1ms to 60s");
  }
  if (config.checker.http_path.empty() || config.checker.http_path.front() != '/') {
    throw UsageError("--http-path: bad value '" + config.checker.http_path +
                     "'; expected a path starting with /");
  }
}

std::string_view Name(ProbeMechanism m) {
  switch (m) {
    case ProbeMechanism::kSessionId:
      return "session-id";
    case ProbeMechanism::kTicket:
      return "ticket";
    case ProbeMechanism::kPsk:
      return "psk";
  }
  return "?";
}

CloseMode CloseModeFor(CloseKind kind) {
  switch (kind) {
    case CloseKind::kCloseNotify:
      return CloseMode::kCloseNotify;
    case CloseKind::kEof:
      return CloseMode::kQuiet;
    case CloseKind::kReset:
      return CloseMode::kQuietReset;
    case CloseKind::kAlert:
    case CloseKind::kTimeout:
    case CloseKind::kHandshakeFailed:
      break;  // not something a client's close makes
  }
  return CloseMode::kCloseNotify;
}

std::string_view Name(RowStatus s) {
  switch (s) {
    case RowStatus::kUnsupported:
      return "unsupported";
    case RowStatus::kNoSession:
      return "no-session";
    case RowStatus::kNoResumption:
      return "no-resumption";
    case RowStatus::kProbed:
      return "probed";
  }
  return "?";
}
ProbeResult RunProbe(const ProbeConfig& config, Trace* trace) {
  ValidateProbe(config);
  return Prober(config, trace).Run();
}

}  // namespace tlslab
