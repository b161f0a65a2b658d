// The probe's verdict: pure logic from the observed matrix to a verdict and the closest server
// profiles (lab/profiles.h), and the probe's JSON document. No I/O: a unit test drives it with
// matrices (tests/unit/probe_verdict_test.cc).
#include <algorithm>
#include <cmath>

#include "clients/probe.h"
#include "lab/errors.h"
#include "lab/profiles.h"
#include "lab/report.h"

namespace tlslab {
namespace {

std::vector<Resumption> CandidateMechanisms(const ServerProfile& profile, ProbeMechanism m) {
  switch (m) {
    case ProbeMechanism::kSessionId:
      return {Resumption::kSessionId};
    case ProbeMechanism::kTicket:
      return {Resumption::kTicket};
    case ProbeMechanism::kPsk:
      // From the client a TLS 1.3 ticket does not say whether it names a cache entry. A
      // profile without server tickets can only issue stateful ones.
      if (!profile.behaviour->tickets_supported) return {Resumption::kPskStateful};
      return {Resumption::kPskStateless, Resumption::kPskStateful};
  }
  return {};
}

ProfileMatch CompareWith(const ServerProfile& profile, const ProbeResult& result) {
  ProfileMatch match;
  match.name = std::string(profile.name);
  for (const RowResult& row : result.rows) {
    // What the server issues and resumes also tells profiles apart: a profile with tickets
    // issues a TLS 1.2 ticket, one with a session cache resumes by session ID (go has none).
    if (row.mechanism == ProbeMechanism::kTicket && row.status == RowStatus::kNoSession &&
        profile.behaviour->tickets_supported) {
      ++match.compared;
      match.differences.push_back("ticket: the server issues no TLS 1.2 ticket, " + match.name +
                                  " issues one");
      continue;
    }
    if (row.mechanism == ProbeMechanism::kSessionId && row.status == RowStatus::kProbed &&
        !profile.behaviour->session_cache) {
      ++match.compared;
      match.differences.push_back("session-id: the server resumes by session ID, " + match.name +
                                  " never does");
      continue;
    }
    // And the converse: a server that does not resume by session ID even after a clean close
    // is not a profile with a session cache (without this, go's matrix matched every lenient
    // profile; tests/unit/probe_verdict_test.cc).
    if (row.mechanism == ProbeMechanism::kSessionId &&
        (row.status == RowStatus::kNoResumption || row.status == RowStatus::kNoSession) &&
        profile.behaviour->session_cache) {
      ++match.compared;
      match.differences.push_back("session-id: the server does not resume by session ID, " +
                                  match.name + " does");
      continue;
    }
    if (row.status != RowStatus::kProbed) continue;
    if (row.mechanism == ProbeMechanism::kTicket && !profile.behaviour->tickets_supported) {
      ++match.compared;
      match.differences.push_back("ticket: the server issues TLS 1.2 tickets, " + match.name +
                                  " issues none");
      continue;
    }
    std::vector<std::string> best;
    int best_compared = 0;
    bool first = true;
    for (Resumption mechanism : CandidateMechanisms(profile, row.mechanism)) {
      std::vector<std::string> diffs;
      int compared = 0;
      for (size_t k = 0; k < kProbeCloseKinds.size(); ++k) {
        const CellFate seen = FateOf(row.cells[k]);
        if (seen == CellFate::kFlaky) continue;
        ++compared;
        const SessionFate expected = FateAfterClose(profile, mechanism, kProbeCloseKinds[k]);
        const bool seen_kept = seen == CellFate::kKept;
        if (seen_kept == (expected == SessionFate::kKept)) continue;
        std::string d =
            std::string(Name(row.mechanism)) + " " + std::string(Name(kProbeCloseKinds[k])) + ": " +
            (seen_kept ? "kept, " : "removed, ") + match.name + (seen_kept ? " removes" : " keeps");
        if (row.mechanism == ProbeMechanism::kPsk) {
          d += " (as " + std::string(Name(mechanism)) + ")";
        }
        diffs.push_back(std::move(d));
      }
      if (first || diffs.size() < best.size()) {
        best = std::move(diffs);
        best_compared = compared;
        first = false;
      }
    }
    match.compared += best_compared;
    match.differences.insert(match.differences.end(), best.begin(), best.end());
  }
  return match;
}

// A row that was not probed, in a few words.
std::string ShortStatus(const RowResult& row) {
  switch (row.status) {
    case RowStatus::kUnsupported:
      return "version refused";
    case RowStatus::kNoSession:
      return row.mechanism == ProbeMechanism::kSessionId ? "no session ID" : "no ticket issued";
    case RowStatus::kNoResumption:
      return "not resumed";
    case RowStatus::kProbed:
      break;
  }
  return "probed";
}

// Whether a profile removes some session after a close without close_notify.
bool ProfileRemovesOnTruncation(const ServerProfile& profile) {
  for (Resumption mechanism : kAllResumptions) {
    for (CloseKind kind : {CloseKind::kEof, CloseKind::kReset}) {
      if (FateAfterClose(profile, mechanism, kind) == SessionFate::kRemoved) return true;
    }
  }
  return false;
}

std::string JoinWith(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::string ProfilePart(const Verdict& v) {
  const std::string on = v.any_flaky ? " on the cells that agree" : "";
  if (!v.matching.empty()) {
    return (v.matching.size() == 1 ? "matches profile " : "matches profiles ") +
           JoinWith(v.matching, ", ") + on;
  }
  if (v.closest.empty()) return "no profile to compare";
  const ProfileMatch* best = nullptr;
  for (const ProfileMatch& m : v.profiles) {
    if (m.name == v.closest.front()) best = &m;
  }
  std::string out = (v.closest.size() == 1 ? "closest profile: " : "closest profiles: ") +
                    JoinWith(v.closest, ", ");
  const size_t n = best->differences.size();
  out += " (" + std::to_string(n) + (n == 1 ? " difference" : " differences") +
         (v.closest.size() > 1 ? " each" : "");
  if (n <= 3) out += "; " + best->name + ": " + JoinWith(best->differences, "; ");
  out += ")";
  return out + on;
}

}  // namespace

std::string_view Name(VerdictKind k) {
  switch (k) {
    case VerdictKind::kStrict:
      return "strict";
    case VerdictKind::kLenient:
      return "lenient";
    case VerdictKind::kFlaky:
      return "flaky";
    case VerdictKind::kNoResumption:
      return "no-resumption";
    case VerdictKind::kDown:
      return "down";
    case VerdictKind::kNotTls:
      return "not-tls";
    case VerdictKind::kHandshakeFailed:
      return "handshake-failed";
    case VerdictKind::kFailed:
      return "failed";
  }
  return "?";
}

CellFate FateOf(const CellResult& cell) {
  if (cell.attempts > 0 && cell.resumed == cell.attempts) return CellFate::kKept;
  if (cell.resumed == 0) return CellFate::kRemoved;
  return CellFate::kFlaky;
}

std::string CellText(const CellResult& cell) {
  switch (FateOf(cell)) {
    case CellFate::kKept:
      return "kept";
    case CellFate::kRemoved:
      return "removed";
    case CellFate::kFlaky:
      return "flaky " + std::to_string(cell.resumed) + "/" + std::to_string(cell.attempts);
  }
  return "?";
}

Verdict Judge(const ProbeResult& result) {
  Verdict v;
  switch (result.reach) {
    case Reach::kTls:
      break;
    case Reach::kDown:
      v.kind = VerdictKind::kDown;
      v.line = "down: " + result.failure;
      return v;
    case Reach::kNotTls:
      v.kind = VerdictKind::kNotTls;
      v.line = "not TLS: " + result.failure;
      return v;
    case Reach::kHandshakeFailed:
      v.kind = VerdictKind::kHandshakeFailed;
      v.line = "handshake failed: " + result.failure;
      return v;
    case Reach::kFailed:
      v.kind = VerdictKind::kFailed;
      v.line = "probe failed: " + result.failure;
      return v;
  }
  std::vector<std::string> removing;  // "session-id: eof, reset"
  std::vector<std::string> keeping;   // rows that keep the session after every close
  std::vector<std::string> flaky;     // "session-id eof 2/3"
  std::vector<std::string> unresumable;
  int closed_first = 0;
  for (const RowResult& row : result.rows) {
    if (row.status != RowStatus::kProbed) {
      unresumable.push_back(std::string(Name(row.mechanism)) + ": " + ShortStatus(row));
      continue;
    }
    closed_first += row.server_closed_first;
    std::vector<std::string> kinds;
    bool row_flaky = false;
    for (size_t k = 0; k < kProbeCloseKinds.size(); ++k) {
      const CloseKind kind = kProbeCloseKinds[k];
      const CellFate fate = FateOf(row.cells[k]);
      // A session lost even after close_notify says nothing about strictness: the same
      // loss after a truncation cannot be blamed on the truncation.
      if (fate == CellFate::kFlaky ||
          (kind == CloseKind::kCloseNotify && fate == CellFate::kRemoved)) {
        flaky.push_back(std::string(Name(row.mechanism)) + " " + std::string(Name(kind)) + " " +
                        std::to_string(row.cells[k].resumed) + "/" +
                        std::to_string(row.cells[k].attempts) + " resumed");
        row_flaky = true;
      } else if (fate == CellFate::kRemoved) {
        kinds.push_back(std::string(Name(kind)));
      }
    }
    if (!kinds.empty()) {
      removing.push_back(std::string(Name(row.mechanism)) + ": " + JoinWith(kinds, ", "));
    } else if (!row_flaky) {
      keeping.push_back(std::string(Name(row.mechanism)));
    }
  }
  v.any_flaky = !flaky.empty();
  if (removing.empty() && keeping.empty() && flaky.empty()) {
    v.kind = VerdictKind::kNoResumption;
    v.line = "no resumption: the server resumes no session, even after a clean close (" +
             JoinWith(unresumable, "; ") + "): no close can cost it one";
    return v;
  }
  for (const ServerProfile& profile : ServerProfiles()) {
    v.profiles.push_back(CompareWith(profile, result));
  }
  // Fewest differences first; among equals, a profile of the verdict's own kind first.
  const bool strict = !removing.empty();
  auto off_kind = [&](const ProfileMatch& m) {
    return ProfileRemovesOnTruncation(FindServerProfile(m.name)) != strict;
  };
  std::stable_sort(v.profiles.begin(), v.profiles.end(),
                   [&](const ProfileMatch& a, const ProfileMatch& b) {
                     if (a.differences.size() != b.differences.size()) {
                       return a.differences.size() < b.differences.size();
                     }
                     return !off_kind(a) && off_kind(b);
                   });
  for (const ProfileMatch& m : v.profiles) {
    if (m.compared == 0) continue;
    if (m.differences.empty()) v.matching.push_back(m.name);
    if (m.differences.size() == v.profiles.front().differences.size()) v.closest.push_back(m.name);
  }
  if (!removing.empty()) {
    v.kind = VerdictKind::kStrict;
    v.line = "strict: removes the session after a close without close_notify (" +
             JoinWith(removing, "; ") + ")";
    if (!keeping.empty()) v.line += "; keeps it with " + JoinWith(keeping, ", ");
  } else if (!flaky.empty()) {
    v.kind = VerdictKind::kFlaky;
    v.line = "flaky: attempts disagree (" + JoinWith(flaky, "; ") +
             "); probe again with a higher --repeat";
  } else {
    v.kind = VerdictKind::kLenient;
    v.line = "lenient: keeps the session after every close (" + JoinWith(keeping, ", ") + ")";
  }
  if (v.kind == VerdictKind::kStrict && !flaky.empty()) {
    v.line += "; flaky: " + JoinWith(flaky, "; ");
  }
  v.line += " \xe2\x80\x94 " + ProfilePart(v);  // an em dash
  if (closed_first > 0) {
    v.line += " (note: the server itself closed " + std::to_string(closed_first) +
              " connections before the probe's close)";
  }
  return v;
}

void ValidateExpectation(std::string_view expect) {
  if (expect == "strict" || expect == "lenient" || expect == "no-resumption") return;
  try {
    FindServerProfile(expect);
  } catch (const UsageError& e) {
    throw UsageError("--expect: bad value '" + std::string(expect) +
                     "'; expected strict, lenient, no-resumption or a server profile (" + e.what() +
                     ")");
  }
}

ExpectOutcome CheckExpectation(const Verdict& verdict, std::string_view expect) {
  ExpectOutcome out;
  if (expect == "strict" || expect == "lenient" || expect == "no-resumption") {
    out.met = Name(verdict.kind) == expect;
    if (!out.met) {
      out.reason = "expected " + std::string(expect) + ", but the verdict is " +
                   std::string(Name(verdict.kind));
    }
    return out;
  }
  const ServerProfile& profile = FindServerProfile(expect);
  const ProfileMatch* match = nullptr;
  for (const ProfileMatch& m : verdict.profiles) {
    if (m.name == profile.name) match = &m;
  }
  const std::string who = "expected profile " + std::string(profile.name);
  if (match == nullptr || match->compared == 0) {
    out.reason = who + ", but no cell could be compared (the verdict is " +
                 std::string(Name(verdict.kind)) + ")";
  } else if (!match->differences.empty()) {
    out.reason = who + ", but " + std::to_string(match->differences.size()) +
                 (match->differences.size() == 1 ? " cell differs: " : " cells differ: ") +
                 JoinWith(match->differences, "; ");
  } else if (verdict.any_flaky) {
    out.reason = who + ", but some cells are flaky, so the match is not certain";
  } else {
    out.met = true;
  }
  return out;
}

nlohmann::json ProbeJson(const ProbeConfig& config, const ProbeResult& result,
                         const Verdict& verdict) {
  nlohmann::json rows = nlohmann::json::object();
  for (const RowResult& row : result.rows) {
    nlohmann::json r = {{"status", Name(row.status)},
                        {"version", row.version},
                        {"detail", row.detail},
                        {"server_closed_first", row.server_closed_first}};
    if (row.mechanism == ProbeMechanism::kPsk) r["matched_as"] = "psk-stateless or psk-stateful";
    switch (row.status) {
      case RowStatus::kProbed:
        r["baseline"] = {{"resumed", true}};
        break;
      case RowStatus::kNoResumption:
        r["baseline"] = {{"resumed", false}};
        break;
      case RowStatus::kUnsupported:
      case RowStatus::kNoSession:
        r["baseline"] = nullptr;
        break;
    }
    nlohmann::json cells = nlohmann::json::object();
    if (row.status == RowStatus::kProbed) {
      for (size_t k = 0; k < kProbeCloseKinds.size(); ++k) {
        const CellResult& c = row.cells[k];
        const CellFate fate = FateOf(c);
        cells[std::string(Name(kProbeCloseKinds[k]))] = {
            {"close_mode", Name(CloseModeFor(kProbeCloseKinds[k]))},
            {"resumed", c.resumed},
            {"attempts", c.attempts},
            {"fate", fate == CellFate::kKept      ? "kept"
                     : fate == CellFate::kRemoved ? "removed"
                                                  : "flaky"}};
      }
    }
    r["close_kinds"] = cells;
    rows[std::string(Name(row.mechanism))] = r;
  }
  nlohmann::json profiles = nlohmann::json::array();
  for (const ProfileMatch& m : verdict.profiles) {
    profiles.push_back(
        {{"name", m.name}, {"cells_compared", m.compared}, {"differences", m.differences}});
  }
  return {{"command", "probe"},
          {"target", result.target},
          {"config",
           {{"tls", Name(config.tls.version)},
            {"sni", config.checker.sni},
            {"check", Name(config.checker.check)},
            {"http_path", config.checker.http_path},
            {"timeout", FormatDuration(*config.checker.timeout)},
            {"repeat", config.repeat},
            {"pause", FormatDuration(config.pause)}}},
          {"reach", result.reach == Reach::kTls ? "tls" : Name(verdict.kind)},
          {"failure", result.failure},
          {"mechanisms", rows},
          {"connections_total", result.connections},
          {"interrupted", result.interrupted},
          {"seconds", std::round(result.seconds * 1000) / 1000},
          {"verdict", {{"kind", Name(verdict.kind)}, {"line", verdict.line}}},
          {"matching_profiles", verdict.matching},
          {"closest_profiles", verdict.closest},
          {"profiles", profiles},
          {"versions", Versions()}};
}

}  // namespace tlslab
