// `tlslab probe HOST:PORT`: is a real TLS server strict or lenient (docs/design.md 1, question 3)?
//
// For each resumption mechanism a client can ask for (a row), the probe first checks that the
// server resumes at all, then measures what each close kind does to the session:
//
//   baseline:  full handshake --close-notify--> pause --> offer the session --> resumed?
//              (not resumed even after a clean close: the server has no cache for this row,
//               which is "no resumption", never "strict")
//   per cell:  full handshake --close(kind)-->   pause --> offer the session --> resumed?
//              repeated `repeat` times: kept (all resumed), removed (none), flaky (some)
//
// The close kinds are the ones the server sees (close_notify, eof, reset), made by the close
// modes close-notify, quiet (FIN, no alert) and quiet-reset (RST via SO_LINGER 0).
// Everything is sequential and every wait is bounded (connect, handshake, read): a probe costs
// rows x (2 + 6 x repeat) connections, 60 with the defaults.
//
// Judge() compares the observed matrix with the server profiles (lab/profiles.h) and gives
// the verdict; it is pure, so the logic is testable without a network.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "lab/config.h"
#include "lab/trace.h"
#include "lab/vocabulary.h"

namespace tlslab {

// The probe's defaults for the checker fields it reads: handshake only, each wait 3 s.
inline CheckerConfig ProbeCheckerDefaults() {
  CheckerConfig c;
  c.check = CheckKind::kConnect;
  c.timeout = Millis{3000};
  return c;
}

// The probe's knobs. Shared knobs are the lab's own config types, so that a flag means the same
// in every command; the probe reads only the fields named here.
struct ProbeConfig {
  std::string target;  // HOST:PORT of the server
  // version: the rows probed (1.2: session-id and ticket; 1.3: psk; auto: all); keylog_file.
  // tickets, session_cache and key are not read: each row sets its own client options.
  TlsConfig tls;
  std::string pcap_file;  // --pcap: every connection of the probe (lab/pcap.h)
  int stop_fd = -1;       // readable = stop now (SIGINT/SIGTERM, a signalfd); -1 = none
  // sni (empty = none, as HAProxy checks send none); check (connect = handshake only, http =
  // GET http_path before each close); timeout: the bound on each wait (connect, handshake,
  // HTTP response), not on the whole probe.
  CheckerConfig checker = ProbeCheckerDefaults();
  int repeat = 3;     // attempts per close kind; a cell is flaky when they disagree
  Millis pause{100};  // after each close, before the next connection: the server's close runs
};

inline constexpr int kMaxProbeRepeat = 20;
inline constexpr Millis kMaxProbePause{10000};

// Throws UsageError naming the field and what is accepted.
void ValidateProbe(const ProbeConfig& config);

// A row of the matrix: what the client offers. TLS 1.3 has one row because the client cannot
// tell a stateless ticket from a stateful one; Judge() matches it to either.
enum class ProbeMechanism {
  kSessionId,  // TLS 1.2, client sends no SessionTicket extension (SSL_OP_NO_TICKET)
  kTicket,     // TLS 1.2, client asks for an RFC 5077 ticket
  kPsk,        // TLS 1.3, whatever NewSessionTicket the server sends (psk-stateless/-stateful)
};
inline constexpr std::array kAllProbeMechanisms = {ProbeMechanism::kSessionId,
                                                   ProbeMechanism::kTicket, ProbeMechanism::kPsk};
std::string_view Name(ProbeMechanism m);

// The matrix columns: what the server sees, in this order.
inline constexpr std::array kProbeCloseKinds = {CloseKind::kCloseNotify, CloseKind::kEof,
                                                CloseKind::kReset};
// The close mode that makes the server see `kind` (close-notify, quiet, quiet-reset).
CloseMode CloseModeFor(CloseKind kind);

enum class RowStatus {
  kUnsupported,   // the server refused the handshake for this version ("n/a")
  kNoSession,     // nothing to resume: no session ID, no ticket issued ("n/a")
  kNoResumption,  // offered after a clean close, not resumed: no cache for this mechanism
  kProbed,        // the cells are filled
};
std::string_view Name(RowStatus s);

struct CellResult {
  int resumed = 0;
  int attempts = 0;
};
enum class CellFate { kKept, kRemoved, kFlaky };
CellFate FateOf(const CellResult& cell);
std::string CellText(const CellResult& cell);  // "kept", "removed", "flaky 1/3"

struct RowResult {
  ProbeMechanism mechanism = ProbeMechanism::kSessionId;
  RowStatus status = RowStatus::kUnsupported;
  std::string detail;   // why, for every status but probed
  std::string version;  // negotiated, e.g. "TLSv1.2"; empty when unsupported
  std::array<CellResult, kProbeCloseKinds.size()> cells{};
  int server_closed_first = 0;  // connections the server closed before we did (--http)
};

// Whether the target could be probed at all.
enum class Reach {
  kTls,              // a TLS server answered
  kDown,             // nothing accepts connections there (refused, unreachable, no answer)
  kNotTls,           // something answered, but not TLS
  kHandshakeFailed,  // a TLS server refused every handshake the probe can offer
  kFailed,           // the probe could not finish (the server went away, no HTTP answer)
};

struct ProbeResult {
  std::string target;
  Reach reach = Reach::kTls;
  std::string failure;  // one line, when reach is not kTls
  std::vector<RowResult> rows;
  int connections = 0;
  double seconds = 0;
  bool interrupted = false;  // stopped by SIGINT/SIGTERM: the matrix holds what was measured
};

// Runs the probe: sequential, blocking, every wait bounded by config.checker.timeout.
// Never throws for what the target does (that becomes Reach); throws UsageError for a bad
// HOST:PORT and RuntimeError when OpenSSL itself fails.
ProbeResult RunProbe(const ProbeConfig& config, Trace* trace);

// ---- The verdict (pure logic) ----

enum class VerdictKind {
  kStrict,        // some close without close_notify removes the session (every attempt)
  kLenient,       // every close keeps it
  kFlaky,         // attempts disagree, and nothing is removed every time
  kNoResumption,  // no row resumes even after a clean close: nothing to be strict about
  kDown,
  kNotTls,
  kHandshakeFailed,
  kFailed,
};
std::string_view Name(VerdictKind k);  // "strict", "lenient", "flaky", "no-resumption", ...

// How one server profile compares with the observed cells.
struct ProfileMatch {
  std::string name;
  int compared = 0;                      // cells compared (flaky cells are not)
  std::vector<std::string> differences;  // "session-id eof: removed, profile keeps"
};

struct Verdict {
  VerdictKind kind = VerdictKind::kLenient;
  std::string line;                    // the one-line verdict a person reads
  std::vector<ProfileMatch> profiles;  // every server profile, fewest differences first
  std::vector<std::string> matching;   // profiles with no difference
  std::vector<std::string> closest;    // profiles with the fewest differences
  bool any_flaky = false;
};

Verdict Judge(const ProbeResult& result);

// --expect: strict, lenient or no-resumption compare with the verdict kind; any other value
// must name a server profile (or alias), which passes only when it matches every cell and no
// cell is flaky. Throws UsageError for an unknown name.
void ValidateExpectation(std::string_view expect);
struct ExpectOutcome {
  bool met = false;
  std::string reason;  // why not, one line
};
ExpectOutcome CheckExpectation(const Verdict& verdict, std::string_view expect);

// One JSON document: target, config, per row the baseline and per close kind {resumed,
// attempts, fate}, the verdict, the profile comparison and versions.
nlohmann::json ProbeJson(const ProbeConfig& config, const ProbeResult& result,
                         const Verdict& verdict);

}  // namespace tlslab
