// Server profiles: FateAfterClose for every profile x resumption x close kind, against an
// expectation table written from the cited semantics (not from profiles.cc), and the lookups.
#include "lab/profiles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "lab/testing/usage_error.h"

namespace tlslab {
namespace {

constexpr SessionFate kKept = SessionFate::kKept;
constexpr SessionFate kRemoved = SessionFate::kRemoved;

// Mechanisms whose session lives in the server's cache, and those that carry it in the ticket.
const std::vector<Resumption> kStateful = {Resumption::kSessionId, Resumption::kPskStateful};
const std::vector<Resumption> kStateless = {Resumption::kTicket, Resumption::kPskStateless};
const std::vector<Resumption> kEveryMechanism = {kAllResumptions.begin(), kAllResumptions.end()};
const std::vector<CloseKind> kEstablishedKinds = {CloseKind::kCloseNotify, CloseKind::kEof,
                                                  CloseKind::kReset, CloseKind::kAlert,
                                                  CloseKind::kTimeout};

// One row: for this profile ("" = every profile), these mechanisms and these close kinds, the
// session's fate, and why. Every (profile, mechanism, kind) must be covered by exactly one row.
struct FateExpectation {
  std::string_view profile;
  std::vector<Resumption> mechanisms;
  std::vector<CloseKind> kinds;
  SessionFate fate;
  std::string_view reason;
};

const std::vector<FateExpectation>& FateTable() {
  static const std::vector<FateExpectation> table = {
      {"",
       kEveryMechanism,
       {CloseKind::kHandshakeFailed},
       kKept,
       "no handshake, no session: there is nothing to remove"},
      {"", kStateless, kEstablishedKinds, kKept,
       "the session travels inside the ticket; no cache entry can be removed "
       "(RFC 8446 section 6: discard 'if possible'; tls-semantics.md 2.5)"},
      {"strict",
       kStateful,
       {CloseKind::kEof, CloseKind::kReset},
       kRemoved,
       "JDK 8 SSLEngine.closeInbound before close_notify calls fatal() and invalidates the "
       "session; Jetty 9.3 calls it on EOF and maps RST to EOF (tls-semantics.md 1.2, 1.6)"},
      {"strict",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"strict",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kTimeout},
       kKept,
       "a clean close, or the server's own idle timeout, is no truncation"},
      {"lenient",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"lenient",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kEof, CloseKind::kReset, CloseKind::kTimeout},
       kKept,
       "RFC 5246 7.2.1: failure to properly close no longer requires that a session not be "
       "resumed"},
  };
  return table;
}

template <typename T>
bool Contains(const std::vector<T>& values, T value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

TEST(FateAfterCloseTest, MatchesExpectationTableForEveryProfileMechanismAndKind) {
  int checked = 0;
  for (const ServerProfile& profile : ServerProfiles()) {
    for (Resumption mechanism : kAllResumptions) {
      for (CloseKind kind : kAllCloseKinds) {
        const std::string where = std::string(profile.name) + " / " + std::string(Name(mechanism)) +
                                  " / " + std::string(Name(kind));
        std::vector<const FateExpectation*> rows;
        for (const FateExpectation& row : FateTable()) {
          if ((row.profile.empty() || row.profile == profile.name) &&
              Contains(row.mechanisms, mechanism) && Contains(row.kinds, kind)) {
            rows.push_back(&row);
          }
        }
        ASSERT_EQ(rows.size(), 1u) << where
                                   << ": the expectation table must cover it exactly once "
                                      "(a new profile needs its rows here)";
        EXPECT_EQ(Name(FateAfterClose(profile, mechanism, kind)), Name(rows[0]->fate))
            << where << ": " << rows[0]->reason;
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 2 * 4 * 6) << "strict and lenient at least";
}

TEST(FateAfterCloseTest, TableRowsNameExistingProfiles) {
  for (const FateExpectation& row : FateTable()) {
    if (!row.profile.empty()) {
      EXPECT_NO_THROW(FindServerProfile(row.profile)) << row.reason;
    }
  }
}

TEST(ServerProfileTest, StrictHasNoServerTicketsLenientHas) {
  // JDK 8 has no server-side tickets (tls-semantics.md 1.5): every resumption goes through the
  // cache, where the invalidation reaches it.
  EXPECT_FALSE(FindServerProfile("strict").tickets_supported);
  EXPECT_TRUE(FindServerProfile("lenient").tickets_supported);
}

struct LookupRow {
  std::string_view name;
  std::string_view expected;  // canonical name
  std::string_view reason;
};

TEST(ServerProfileTest, FindsKnownNamesAndAliases) {
  const LookupRow rows[] = {
      {"strict", "strict", "the incident's server (JDK 8 SSLEngine under Jetty 9.3)"},
      {"lenient", "lenient", "RFC 4346+ behaviour"},
      {"rfc5246", "lenient", "alias: lenient is what RFC 5246 7.2.1 allows"},
  };
  for (const LookupRow& row : rows) {
    EXPECT_EQ(FindServerProfile(row.name).name, row.expected) << row.name << ": " << row.reason;
  }
}

TEST(ServerProfileTest, EveryNameAndAliasFindsItsOwnRow) {
  for (const ServerProfile& profile : ServerProfiles()) {
    EXPECT_EQ(&FindServerProfile(profile.name), &profile) << profile.name;
    std::string_view rest = profile.aliases;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view alias = rest.substr(0, comma);
      EXPECT_EQ(&FindServerProfile(alias), &profile) << alias;
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
}

TEST(ServerProfileTest, UnknownNamesThrowListingTheKnownOnes) {
  const std::string_view unknown[] = {"jetty", "", "rfc", "Strict", "strict,"};
  for (std::string_view name : unknown) {
    const std::string message = UsageErrorMessage([&] { FindServerProfile(name); });
    ASSERT_FALSE(message.empty()) << "'" << name << "' must be unknown";
    EXPECT_NE(message.find("'" + std::string(name) + "'"), std::string::npos) << message;
    for (const ServerProfile& profile : ServerProfiles()) {
      EXPECT_NE(message.find(profile.name), std::string::npos) << message;
    }
  }
}

}  // namespace
}  // namespace tlslab
