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
       "(RFC 8446 section 6: discard 'if possible'; docs/tls-semantics.md 2.5)"},
      // ---- Java SSLEngine under a framework that calls closeInbound() on EOF and RST ----
      {"jdk8-sslengine",
       kStateful,
       {CloseKind::kEof, CloseKind::kReset},
       kRemoved,
       "JDK 8 SSLEngine.closeInbound before close_notify calls fatal() and invalidates the "
       "session; Jetty 9.3 calls it on EOF and maps RST to EOF (docs/tls-semantics.md 1.2, 1.6)"},
      {"jdk11-sslengine-old",
       kStateful,
       {CloseKind::kEof, CloseKind::kReset},
       kRemoved,
       "JDK 11.0.0-11.0.17 closeInbound: TransportContext.fatal invalidates the session and its "
       "TLS 1.3 ticket children (docs/tls-semantics.md 1.2, 1.5)"},
      {"jdk17-sslengine-old",
       kStateful,
       {CloseKind::kEof, CloseKind::kReset},
       kRemoved,
       "JDK 17.0.0-17.0.5 closeInbound: fatal() before JDK-8273553 reached 17.0.6"},
      {"jdk17-sslengine",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kEof, CloseKind::kReset, CloseKind::kTimeout},
       kKept,
       "JDK-8273553 (17.0.6+): closeInbound only throws SSLException, the session stays valid "
       "(measured on 17.0.15, docs/real-stacks.md 4.5)"},
      // ---- Java SSLSocket ----
      {"jdk17-sslsocket",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kEof, CloseKind::kReset, CloseKind::kTimeout},
       kKept,
       "handleEOF treats a FIN as close_notify; JDK-8274736: fatal() no longer invalidates for a "
       "SocketException such as an RST (measured on 17.0.15)"},
      {"jdk17-sslsocket-no-tickets",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kEof, CloseKind::kReset, CloseKind::kTimeout},
       kKept,
       "the ticket switch only moves resumption into the cache; nothing invalidates it "
       "(measured on 17.0.15, docs/real-stacks.md 4.4)"},
      {"jdk17-sslsocket-require-close-notify",
       kStateful,
       {CloseKind::kEof},
       kRemoved,
       "requireCloseNotify=true: a FIN is SSLProtocolException 'Remote host terminated the "
       "connection', then fatal() invalidates (docs/tls-semantics.md 1.3)"},
      {"jdk17-sslsocket-require-close-notify",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kReset, CloseKind::kTimeout},
       kKept,
       "requireCloseNotify is about the FIN only; an RST keeps the session (JDK-8274736)"},
      {"jdk17-sslsocket-require-close-notify-no-tickets",
       kStateful,
       {CloseKind::kEof},
       kRemoved,
       "a FIN is fatal, and stateful TLS 1.3 tickets are children of the session "
       "(NewSessionTicket addChild): they die with it (docs/real-stacks.md 4.4)"},
      {"jdk17-sslsocket-require-close-notify-no-tickets",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kReset, CloseKind::kTimeout},
       kKept,
       "only the FIN is fatal under requireCloseNotify; an RST keeps it (JDK-8274736)"},
      // ---- Frameworks and OpenSSL applications ----
      {"jetty94",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kEof, CloseKind::kReset, CloseKind::kTimeout},
       kKept,
       "Jetty d53af5d (#523): no closeInbound() on server connections after the handshake"},
      {"openssl3",
       kStateful,
       {CloseKind::kEof},
       kRemoved,
       "OpenSSL 3 in SSL_read: unexpected EOF is SSLfatal, ssl3_send_alert removes the session "
       "(docs/tls-semantics.md 2.2)"},
      {"openssl3",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kReset, CloseKind::kTimeout},
       kKept,
       "an RST is SSL_ERROR_SYSCALL with no alert, and the application still shuts down before "
       "SSL_free (docs/tls-semantics.md 2.3; s_server measured)"},
      {"openssl3-ignore-eof",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kEof, CloseKind::kReset, CloseKind::kTimeout},
       kKept,
       "SSL_OP_IGNORE_UNEXPECTED_EOF turns the FIN into a close_notify (docs/tls-semantics.md "
       "2.2)"},
      {"nginx",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kEof, CloseKind::kReset, CloseKind::kTimeout},
       kKept,
       "nginx sets SSL_OP_IGNORE_UNEXPECTED_EOF and SSL_SENT_SHUTDOWN before SSL_free "
       "(docs/tls-semantics.md 2.6)"},
      {"haproxy-frontend",
       kStateful,
       {CloseKind::kReset},
       kRemoved,
       "HAProxy 2.6 frees the SSL without SSL_shutdown after an RST: ssl_clear_bad_session "
       "(docs/real-stacks.md 4.3)"},
      {"haproxy-frontend",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kEof, CloseKind::kTimeout},
       kKept,
       "HAProxy's BIO answers 0 to BIO_CTRL_EOF, so a FIN is no fatal error"},
      {"go", kStateful, kEstablishedKinds, kKept,
       "Go has no server session cache: nothing to remove (and nothing resumes by ID)"},
      {"lenient",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kEof, CloseKind::kReset, CloseKind::kTimeout},
       kKept,
       "RFC 5246 7.2.1: failure to properly close no longer requires that a session not be "
       "resumed"},
      // ---- Every profile with a cache: the alert, and the clean closes of the strict ones ----
      {"jdk8-sslengine",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kTimeout},
       kKept,
       "a clean close, or the server's own idle timeout, is no truncation"},
      {"jdk11-sslengine-old",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kTimeout},
       kKept,
       "a clean close, or the server's own idle timeout, is no truncation"},
      {"jdk17-sslengine-old",
       kStateful,
       {CloseKind::kCloseNotify, CloseKind::kTimeout},
       kKept,
       "a clean close, or the server's own idle timeout, is no truncation"},
      {"jdk8-sslengine",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"jdk11-sslengine-old",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"jdk17-sslengine-old",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"jdk17-sslengine",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"jdk17-sslsocket",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"jdk17-sslsocket-no-tickets",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"jdk17-sslsocket-require-close-notify",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"jdk17-sslsocket-require-close-notify-no-tickets",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"jetty94",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"openssl3",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"openssl3-ignore-eof",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"nginx",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"haproxy-frontend",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
      {"lenient",
       kStateful,
       {CloseKind::kAlert},
       kRemoved,
       "RFC 5246 7.2: after a fatal alert the session identifier MUST be invalidated"},
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
  EXPECT_GE(checked, 15 * 4 * 6) << "every row of the matrix at least";
}

TEST(FateAfterCloseTest, TableRowsNameExistingProfiles) {
  for (const FateExpectation& row : FateTable()) {
    if (!row.profile.empty()) {
      EXPECT_NO_THROW(FindServerProfile(row.profile)) << row.reason;
    }
  }
}

struct ContextRow {
  std::string_view profile;
  bool tickets_supported;
  bool session_cache;
  std::string_view reason;
};

TEST(ServerProfileTest, TicketsAndCachePerProfile) {
  const ContextRow rows[] = {
      {"strict", false, true,
       "JDK 8 has no server-side tickets (docs/tls-semantics.md 1.5): every resumption goes "
       "through "
       "the cache, where the invalidation reaches it"},
      {"jdk11-sslengine-old", false, true,
       "stateless tickets came in JDK 13 (JDK-8211018); 11u has stateful ones only"},
      {"jdk17-sslengine-old", true, true, "JDK 13+: stateless tickets on by default"},
      {"jdk17-sslsocket", true, true, "enableSessionTicketExtension defaults to true on 17"},
      {"jdk17-sslsocket-no-tickets", false, true, "enableSessionTicketExtension=false"},
      {"jdk17-sslsocket-require-close-notify-no-tickets", false, true,
       "enableSessionTicketExtension=false"},
      {"openssl3", true, true, "OpenSSL issues RFC 5077 and stateless TLS 1.3 tickets by default"},
      {"nginx", true, true, "the profile assumes a configured ssl_session_cache, as measured"},
      {"go", true, false, "Go crypto/tls: tickets only, no session-ID cache (checkForResumption)"},
      {"lenient", true, true, "RFC 5246 with RFC 5077 tickets"},
  };
  for (const ContextRow& row : rows) {
    const ServerProfile& profile = FindServerProfile(row.profile);
    EXPECT_EQ(profile.behaviour->tickets_supported, row.tickets_supported)
        << row.profile << ": " << row.reason;
    EXPECT_EQ(profile.behaviour->session_cache, row.session_cache)
        << row.profile << ": " << row.reason;
  }
}

TEST(ServerProfileTest, EveryRowIsCitedAndSaysWhatItEmulates) {
  for (const ServerProfile& profile : ServerProfiles()) {
    EXPECT_FALSE(profile.emulates.empty()) << profile.name;
    EXPECT_FALSE(profile.source.empty()) << profile.name;
  }
}

struct LookupRow {
  std::string_view name;
  std::string_view expected;  // canonical name
  std::string_view reason;
};

TEST(ServerProfileTest, FindsKnownNamesAndAliases) {
  const LookupRow rows[] = {
      {"strict", "jdk8-sslengine",
       "alias: the incident's server (JDK 8 SSLEngine under Jetty 9.3)"},
      {"jdk8-sslengine", "jdk8-sslengine", "the incident's server by its own name"},
      {"jdk17-sslsocket-require-close-notify", "jdk17-sslsocket-require-close-notify",
       "a row named after its JDK property"},
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
  const std::string_view unknown[] = {"jetty", "", "rfc", "Strict", "strict,", "jdk8"};
  for (std::string_view name : unknown) {
    const std::string message = UsageErrorMessage([&] { FindServerProfile(name); });
    ASSERT_FALSE(message.empty()) << "'" << name << "' must be unknown";
    EXPECT_NE(message.find(std::string("'").append(name).append("'")), std::string::npos)
        << message;
    for (const ServerProfile& profile : ServerProfiles()) {
      EXPECT_NE(message.find(profile.name), std::string::npos) << message;
    }
  }
}

}  // namespace
}  // namespace tlslab

namespace tlslab {
namespace {

// Two levels: a behaviour is worth a name only if a profile uses it, and two behaviours that
// act alike would be one behaviour spelled twice.
TEST(BehaviourTest, EveryBehaviourIsUsedAndDistinct) {
  for (const Behaviour* b : Behaviours()) {
    bool used = false;
    for (const ServerProfile& p : ServerProfiles()) used = used || p.behaviour == b;
    EXPECT_TRUE(used) << b->name << " is used by no profile";
    EXPECT_FALSE(b->why.empty()) << b->name;
    for (const Behaviour* other : Behaviours()) {
      if (other == b) continue;
      EXPECT_NE(b->name, other->name);
      const bool same = b->eof == other->eof && b->reset == other->reset &&
                        b->tickets_supported == other->tickets_supported &&
                        b->session_cache == other->session_cache &&
                        b->answers_close_notify == other->answers_close_notify;
      EXPECT_FALSE(same) << b->name << " and " << other->name << " behave the same";
    }
  }
}

TEST(BehaviourTest, EveryProfileHasOneOfTheNamedBehaviours) {
  for (const ServerProfile& p : ServerProfiles()) {
    ASSERT_NE(p.behaviour, nullptr) << p.name;
    bool listed = false;
    for (const Behaviour* b : Behaviours()) listed = listed || p.behaviour == b;
    EXPECT_TRUE(listed) << p.name;
  }
}

// The rules FateAfterClose states once, for every profile (RFC 5246 7.2 and 7.2.1, RFC 8446
// section 6; docs/tls-semantics.md 1.5, 2.5, 5).
TEST(FateAfterCloseTest, CrossCuttingRulesHoldForEveryProfile) {
  for (const ServerProfile& p : ServerProfiles()) {
    for (Resumption m : {Resumption::kTicket, Resumption::kPskStateless}) {
      for (CloseKind kind : kAllCloseKinds) {
        EXPECT_EQ(FateAfterClose(p, m, kind), SessionFate::kKept)
            << p.name << ": a stateless ticket has no cache entry to remove";
      }
    }
    for (Resumption m : {Resumption::kSessionId, Resumption::kPskStateful}) {
      EXPECT_EQ(FateAfterClose(p, m, CloseKind::kCloseNotify), SessionFate::kKept) << p.name;
      EXPECT_EQ(FateAfterClose(p, m, CloseKind::kHandshakeFailed), SessionFate::kKept) << p.name;
      const SessionFate alert =
          p.behaviour->session_cache ? SessionFate::kRemoved : SessionFate::kKept;
      EXPECT_EQ(FateAfterClose(p, m, CloseKind::kAlert), alert) << p.name;
    }
  }
}

// HAProxy 2.6 answers a connection that ends before its first request with a 400; with the RST
// already there the send fails and SSL_shutdown is skipped (src/mux_h1.c h1_handle_parsing_error
// and h1_shutw_conn, src/raw_sock.c raw_sock_from_buf; docs/real-stacks.md 4.8). Only both
// conditions together remove the session, only from the cache, and only for haproxy-frontend.
TEST(FateAfterCloseTest, CloseNotifyWithResetBeforeFirstRequestDropsOnlyForHaproxyFrontend) {
  const CloseNotifyContext both{.reset_in_same_wakeup = true, .before_first_request = true};
  const CloseNotifyContext after_request{.reset_in_same_wakeup = true,
                                         .before_first_request = false};
  const CloseNotifyContext read_alone{.reset_in_same_wakeup = false, .before_first_request = true};
  for (const ServerProfile& p : ServerProfiles()) {
    const bool haproxy = p.name == "haproxy-frontend";
    for (Resumption m : kEveryMechanism) {
      const bool stateful = m == Resumption::kSessionId || m == Resumption::kPskStateful;
      const SessionFate want = haproxy && stateful ? kRemoved : kKept;
      EXPECT_EQ(FateAfterClose(p, m, CloseKind::kCloseNotify, both), want) << p.name;
      EXPECT_EQ(FateAfterClose(p, m, CloseKind::kCloseNotify, after_request), kKept) << p.name;
      EXPECT_EQ(FateAfterClose(p, m, CloseKind::kCloseNotify, read_alone), kKept) << p.name;
      // The context never moves any other close kind.
      for (CloseKind kind : kAllCloseKinds) {
        if (kind == CloseKind::kCloseNotify) continue;
        EXPECT_EQ(FateAfterClose(p, m, kind, both), FateAfterClose(p, m, kind)) << p.name;
      }
    }
  }
}

}  // namespace
}  // namespace tlslab
