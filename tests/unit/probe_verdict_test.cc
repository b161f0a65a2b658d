// The probe's verdict (clients/probe_verdict.cc), which is pure: an observed matrix in, a
// verdict and the closest server profiles out. A table of hand-written matrices, then every
// server profile's own matrix (derived from the profile table through FateAfterClose, as a
// probe of `tlslab serve --profile NAME` observes it) must map back to that profile, or to
// profiles that behave identically on everything a probe can see.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "clients/probe.h"
#include "lab/errors.h"
#include "lab/profiles.h"

namespace tlslab {
namespace {

constexpr int kAttempts = 3;

// One row as the probe would fill it: "K" kept, "R" removed, "F" flaky (1 of 3), per close kind
// in kProbeCloseKinds order (close_notify, eof, reset).
RowResult Row(ProbeMechanism mechanism, std::string_view cells) {
  RowResult row;
  row.mechanism = mechanism;
  row.status = RowStatus::kProbed;
  row.version = mechanism == ProbeMechanism::kPsk ? "TLSv1.3" : "TLSv1.2";
  for (size_t k = 0; k < kProbeCloseKinds.size(); ++k) {
    row.cells[k].attempts = kAttempts;
    row.cells[k].resumed = cells[k] == 'K' ? kAttempts : cells[k] == 'F' ? 1 : 0;
  }
  return row;
}

RowResult Unprobed(ProbeMechanism mechanism, RowStatus status) {
  RowResult row;
  row.mechanism = mechanism;
  row.status = status;
  row.detail = "not probed";
  return row;
}

ProbeResult Matrix(std::vector<RowResult> rows) {
  ProbeResult r;
  r.target = "127.0.0.1:1";
  r.rows = std::move(rows);
  return r;
}

// What a probe observes against a server that behaves as `profile`. The TLS 1.3 row is the
// mechanism the server would issue: stateless tickets when it has them, else stateful ones.
ProbeResult MatrixOf(const ServerProfile& profile) {
  auto cells = [&](Resumption mechanism) {
    std::string out;
    for (CloseKind kind : kProbeCloseKinds) {
      out += FateAfterClose(profile, mechanism, kind) == SessionFate::kKept ? 'K' : 'R';
    }
    return out;
  };
  std::vector<RowResult> rows;
  rows.push_back(profile.behaviour->session_cache
                     ? Row(ProbeMechanism::kSessionId, cells(Resumption::kSessionId))
                     : Unprobed(ProbeMechanism::kSessionId, RowStatus::kNoResumption));
  rows.push_back(profile.behaviour->tickets_supported
                     ? Row(ProbeMechanism::kTicket, cells(Resumption::kTicket))
                     : Unprobed(ProbeMechanism::kTicket, RowStatus::kNoSession));
  rows.push_back(Row(ProbeMechanism::kPsk,
                     cells(profile.behaviour->tickets_supported ? Resumption::kPskStateless
                                                                : Resumption::kPskStateful)));
  return Matrix(std::move(rows));
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

struct VerdictCase {
  std::string_view name;
  std::string_view session_id, ticket, psk;  // "" = row not probed (no session)
  VerdictKind kind;
  std::string_view line_has;   // a part of the one-line verdict
  std::string_view a_match;    // a profile among `matching` ("" = none must match)
  std::string_view a_closest;  // a profile among `closest` ("" = not checked)
};

const std::vector<VerdictCase>& Cases() {
  static const std::vector<VerdictCase> cases = {
      {"openssl3 as measured", "KRK", "KKK", "KKK", VerdictKind::kStrict,
       "strict: removes the session after a close without close_notify (session-id: eof)",
       "openssl3", "openssl3"},
      {"the incident's server", "KRR", "KKK", "KKK", VerdictKind::kStrict, "session-id: eof, reset",
       "jdk17-sslengine-old", ""},
      {"only an RST removes", "KKR", "KKK", "KKK", VerdictKind::kStrict, "session-id: reset",
       "haproxy-frontend", ""},
      {"every close keeps", "KKK", "KKK", "KKK", VerdictKind::kLenient,
       "lenient: keeps the session after every close", "", "lenient"},
      {"attempts disagree", "KFK", "KKK", "KKK", VerdictKind::kFlaky, "session-id eof 1/3 resumed",
       "", ""},
      // The baseline resumed after close_notify, so a loss after close_notify is counted as
      // attempts disagreeing; the truncation cells still say strict.
      {"a loss after close_notify is flagged", "RRR", "KKK", "KKK", VerdictKind::kStrict,
       "; flaky: session-id close_notify 0/3 resumed", "", ""},
      {"a loss after close_notify alone is not strictness", "RKK", "KKK", "KKK",
       VerdictKind::kFlaky, "session-id close_notify 0/3 resumed", "", ""},
      {"no ticket issued: a profile without tickets", "KRK", "", "KRK", VerdictKind::kStrict,
       "session-id: eof; psk: eof", "jdk17-sslsocket-require-close-notify-no-tickets", ""},
      {"strict with a flaky cell", "KRF", "KKK", "KKK", VerdictKind::kStrict,
       "; flaky: session-id reset 1/3 resumed", "", ""},
  };
  return cases;
}

TEST(ProbeVerdict, TableOfMatrices) {
  for (const VerdictCase& c : Cases()) {
    SCOPED_TRACE(std::string(c.name));
    std::vector<RowResult> rows = {Row(ProbeMechanism::kSessionId, c.session_id),
                                   c.ticket.empty()
                                       ? Unprobed(ProbeMechanism::kTicket, RowStatus::kNoSession)
                                       : Row(ProbeMechanism::kTicket, c.ticket),
                                   Row(ProbeMechanism::kPsk, c.psk)};
    const Verdict v = Judge(Matrix(std::move(rows)));
    EXPECT_EQ(v.kind, c.kind) << v.line;
    EXPECT_NE(v.line.find(c.line_has), std::string::npos) << v.line;
    EXPECT_EQ(v.profiles.size(), ServerProfiles().size());
    if (!c.a_match.empty()) {
      EXPECT_TRUE(Contains(v.matching, c.a_match)) << v.line;
    }
    if (!c.a_closest.empty()) {
      EXPECT_TRUE(Contains(v.closest, c.a_closest)) << v.line;
    }
    // Fewest differences first, and `closest` is exactly the set at the front.
    for (size_t i = 1; i < v.profiles.size(); ++i) {
      EXPECT_LE(v.profiles[i - 1].differences.size(), v.profiles[i].differences.size());
    }
    for (const std::string& name : v.matching) EXPECT_TRUE(Contains(v.closest, name)) << name;
  }
}

TEST(ProbeVerdict, AMismatchNamesTheCell) {
  // openssl3's matrix with the eof cell kept: one difference from openssl3, on that cell.
  const Verdict v =
      Judge(Matrix({Row(ProbeMechanism::kSessionId, "KKR"), Row(ProbeMechanism::kTicket, "KKK"),
                    Row(ProbeMechanism::kPsk, "KKK")}));
  const auto it = std::find_if(v.profiles.begin(), v.profiles.end(),
                               [](const ProfileMatch& m) { return m.name == "openssl3"; });
  ASSERT_NE(it, v.profiles.end());
  ASSERT_FALSE(it->differences.empty());
  EXPECT_TRUE(Contains(it->differences, "session-id eof: kept, openssl3 removes"))
      << it->differences.front();
}

TEST(ProbeVerdict, NothingResumedIsNoResumptionAndUnreachableIsNotAVerdictOnTheServer) {
  const Verdict none = Judge(Matrix({Unprobed(ProbeMechanism::kSessionId, RowStatus::kNoResumption),
                                     Unprobed(ProbeMechanism::kTicket, RowStatus::kNoSession),
                                     Unprobed(ProbeMechanism::kPsk, RowStatus::kNoSession)}));
  EXPECT_EQ(none.kind, VerdictKind::kNoResumption);
  EXPECT_TRUE(none.matching.empty());
  const std::vector<std::pair<Reach, VerdictKind>> reaches = {
      {Reach::kDown, VerdictKind::kDown},
      {Reach::kNotTls, VerdictKind::kNotTls},
      {Reach::kHandshakeFailed, VerdictKind::kHandshakeFailed},
      {Reach::kFailed, VerdictKind::kFailed}};
  for (const auto& [reach, kind] : reaches) {
    ProbeResult r = Matrix({});
    r.reach = reach;
    r.failure = "what happened";
    const Verdict v = Judge(r);
    EXPECT_EQ(v.kind, kind);
    EXPECT_NE(v.line.find("what happened"), std::string::npos) << v.line;
    EXPECT_TRUE(v.profiles.empty());
  }
}

TEST(ProbeVerdict, EveryProfilesOwnMatrixMapsBackToItself) {
  for (const ServerProfile& profile : ServerProfiles()) {
    SCOPED_TRACE(std::string(profile.name));
    const ProbeResult own = MatrixOf(profile);
    const Verdict v = Judge(own);
    EXPECT_TRUE(Contains(v.matching, profile.name)) << v.line;
    EXPECT_TRUE(Contains(v.closest, profile.name)) << v.line;
    // Every other profile that matches behaves identically as far as a probe can see: the
    // same matrix (its behaviour-equivalent group), never a different one.
    for (const std::string& other : v.matching) {
      const ProbeResult theirs = MatrixOf(FindServerProfile(other));
      for (size_t r = 0; r < own.rows.size(); ++r) {
        EXPECT_EQ(own.rows[r].status, theirs.rows[r].status) << other;
        for (size_t k = 0; k < kProbeCloseKinds.size(); ++k) {
          EXPECT_EQ(FateOf(own.rows[r].cells[k]), FateOf(theirs.rows[r].cells[k]))
              << other << " row " << r << " kind " << k;
        }
      }
    }
    // The verdict kind follows the matrix: strict exactly when a truncation removes a session.
    bool truncation_removes = false;
    for (const RowResult& row : own.rows) {
      if (row.status != RowStatus::kProbed) continue;
      truncation_removes = truncation_removes || FateOf(row.cells[1]) == CellFate::kRemoved ||
                           FateOf(row.cells[2]) == CellFate::kRemoved;
    }
    EXPECT_EQ(v.kind, truncation_removes ? VerdictKind::kStrict : VerdictKind::kLenient) << v.line;
    const ExpectOutcome expect = CheckExpectation(v, profile.name);
    EXPECT_TRUE(expect.met) << expect.reason;
  }
}

TEST(ProbeVerdict, ExpectationsAreCheckedAndUnknownNamesRefused) {
  const Verdict strict = Judge(MatrixOf(FindServerProfile("openssl3")));
  EXPECT_TRUE(CheckExpectation(strict, "strict").met);
  const ExpectOutcome lenient = CheckExpectation(strict, "lenient");
  EXPECT_FALSE(lenient.met);
  EXPECT_EQ(lenient.reason, "expected lenient, but the verdict is strict");
  const ExpectOutcome other = CheckExpectation(strict, "go");
  EXPECT_FALSE(other.met);
  EXPECT_NE(other.reason.find("differ"), std::string::npos) << other.reason;
  EXPECT_THROW(ValidateExpectation("no-such-profile"), UsageError);
  EXPECT_NO_THROW(ValidateExpectation("no-resumption"));
}

}  // namespace
}  // namespace tlslab
