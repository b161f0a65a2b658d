// Close classification over real OpenSSL objects: a server TlsStream is driven into each way a
// connection can end, ObserveSslResult records what OpenSSL said, the test states what the
// transport did (as the socket pump would), and ClassifyClose must name it. For TLS 1.2 and 1.3.
#include "lab/close_kind.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <memory>
#include <string>
#include <tuple>

#include "lab/testing/bio_pair.h"

namespace tlslab {
namespace {

// The server reads, as the engine does when bytes arrive, and records the result.
void ServerRead(BioPair& pair, CloseObservation& obs) {
  char buf[256];
  int n = 0;
  while ((n = SSL_read(pair.server.ssl(), buf, sizeof buf)) > 0) {
  }
  ObserveSslResult(obs, pair.server.ssl(), n);
}

// The server advances its handshake, as the engine does before the handshake is done.
void ServerHandshakeStep(BioPair& pair, CloseObservation& obs) {
  const int ret = SSL_do_handshake(pair.server.ssl());
  if (ret == 1) {
    obs.handshake_done = true;
  } else {
    ObserveSslResult(obs, pair.server.ssl(), ret);
  }
}

void FeedServer(BioPair& pair, std::string_view bytes) {
  pair.server.Feed(bytes.data(), bytes.size());
}

// A well-formed record header (application data, TLS 1.2 version) around bytes that no key
// decrypts: what a corrupted or forged record looks like.
std::string GarbageRecord() {
  return std::string("\x17\x03\x03\x00\x40", 5) + std::string(64, 'x');
}

// What happens to the connection, and what the classification must say.
struct Scenario {
  std::string_view name;
  bool handshake_first;  // complete the handshake before `act`
  void (*act)(BioPair&, CloseObservation&);
  CloseKind expected;
  bool expect_close_notify;
  bool expect_fatal_error;
  std::string_view reason;
};

const Scenario kScenarios[] = {
    {"close_notify", true,
     [](BioPair& p, CloseObservation& obs) {
       ASSERT_GE(SSL_shutdown(p.client.ssl()), 0);
       ASSERT_GT(Transfer(p.client, p.server), 0u);
       ServerRead(p, obs);
       obs.transport = TransportEnd::kEof;  // the FIN that followed
     },
     CloseKind::kCloseNotify, true, false, "the peer said goodbye (SSL_ERROR_ZERO_RETURN)"},
    {"eof", true,
     [](BioPair& p, CloseObservation& obs) {
       ServerRead(p, obs);  // nothing arrived: WANT_READ, nothing to record
       obs.transport = TransportEnd::kEof;
     },
     CloseKind::kEof, false, false, "FIN without close_notify: a truncation"},
    {"reset", true,
     [](BioPair& p, CloseObservation& obs) {
       ServerRead(p, obs);
       obs.transport = TransportEnd::kReset;
     },
     CloseKind::kReset, false, false, "RST without close_notify"},
    {"close_notify_then_reset", true,
     [](BioPair& p, CloseObservation& obs) {
       ASSERT_GE(SSL_shutdown(p.client.ssl()), 0);
       Transfer(p.client, p.server);
       ServerRead(p, obs);
       obs.transport = TransportEnd::kReset;
     },
     CloseKind::kCloseNotify, true, false,
     "HAProxy 1.7.4: the alert reached the TLS layer before the RST (docs/tls-semantics.md 4.1)"},
    {"peer_fatal_alert", true,
     [](BioPair& p, CloseObservation& obs) {
       // The client receives a forged record, fails, and sends a real fatal alert.
       const std::string garbage = GarbageRecord();
       p.client.Feed(garbage.data(), garbage.size());
       char byte;
       ASSERT_LE(SSL_read(p.client.ssl(), &byte, 1), 0);
       ERR_clear_error();
       ASSERT_GT(Transfer(p.client, p.server), 0u) << "the client sent its alert";
       ServerRead(p, obs);
       obs.transport = TransportEnd::kEof;
     },
     CloseKind::kAlert, false, true, "RFC 5246 7.2: a fatal alert invalidates the session"},
    {"garbage_record", true,
     [](BioPair& p, CloseObservation& obs) {
       FeedServer(p, GarbageRecord());
       ServerRead(p, obs);
       obs.transport = TransportEnd::kReset;
     },
     CloseKind::kAlert, false, true,
     "a record that fails to decrypt is a protocol error (bad_record_mac), even if an RST "
     "follows"},
    {"plaintext_instead_of_record", true,
     [](BioPair& p, CloseObservation& obs) {
       FeedServer(p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
       ServerRead(p, obs);
     },
     CloseKind::kAlert, false, true, "not a TLS record at all"},
    {"eof_before_any_byte", false,
     [](BioPair& p, CloseObservation& obs) {
       ServerHandshakeStep(p, obs);
       obs.transport = TransportEnd::kEof;
     },
     CloseKind::kHandshakeFailed, false, false, "a port scan or a TCP-only check: no session"},
    {"eof_after_client_hello", false,
     [](BioPair& p, CloseObservation& obs) {
       ASSERT_LE(SSL_do_handshake(p.client.ssl()), 0);
       ASSERT_GT(Transfer(p.client, p.server), 0u);
       ServerHandshakeStep(p, obs);
       obs.transport = TransportEnd::kEof;
     },
     CloseKind::kHandshakeFailed, false, false, "the handshake never completed"},
    {"reset_after_client_hello", false,
     [](BioPair& p, CloseObservation& obs) {
       ASSERT_LE(SSL_do_handshake(p.client.ssl()), 0);
       Transfer(p.client, p.server);
       ServerHandshakeStep(p, obs);
       obs.transport = TransportEnd::kReset;
     },
     CloseKind::kHandshakeFailed, false, false, "the handshake never completed"},
    {"garbage_instead_of_client_hello", false,
     [](BioPair& p, CloseObservation& obs) {
       FeedServer(p, "GET / HTTP/1.1\r\n\r\n");
       ServerHandshakeStep(p, obs);
     },
     CloseKind::kHandshakeFailed, false, true,
     "a fatal error before the handshake is still no session: handshake_failed comes first"},
    {"timeout", true,
     [](BioPair& p, CloseObservation& obs) {
       ServerRead(p, obs);
       obs.timed_out = true;
     },
     CloseKind::kTimeout, false, false, "nothing happened until our idle timeout"},
    {"still_open", true, [](BioPair& p, CloseObservation& obs) { ServerRead(p, obs); },
     CloseKind::kTimeout, false, false,
     "closed for us with the transport still open: counted as a timeout"},
};

class CloseKindTest : public ::testing::TestWithParam<std::tuple<Scenario, TlsVersion>> {
 protected:
  static void SetUpTestSuite() {
    TlsConfig tls;
    tls.key = KeyType::kP256;  // cheap to generate; the key type changes nothing here
    creds_ = std::make_unique<Credentials>(LoadOrMakeCredentials(tls));
  }
  static void TearDownTestSuite() { creds_.reset(); }
  static inline std::unique_ptr<Credentials> creds_;
};

TEST_P(CloseKindTest, ClassifiesWhatTheServerSaw) {
  const auto& [scenario, version] = GetParam();
  SCOPED_TRACE(std::string(scenario.name) + ": " + std::string(scenario.reason));
  TlsConfig tls;
  tls.version = version;
  ContextPair ctx = MakeContextPair(tls, *creds_);
  BioPair pair = MakeBioPair(ctx.client.get(), ctx.server.get());
  CloseObservation obs;
  if (scenario.handshake_first) {
    ASSERT_EQ(CompleteHandshake(pair), "");
    // The engine marks the handshake done when SSL_do_handshake returns 1.
    obs.handshake_done = SSL_is_init_finished(pair.server.ssl()) == 1;
    ASSERT_TRUE(obs.handshake_done);
    ASSERT_EQ(SSL_version(pair.server.ssl()),
              version == TlsVersion::kTls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
  }
  scenario.act(pair, obs);
  if (HasFatalFailure()) return;

  EXPECT_EQ(Name(ClassifyClose(obs)), Name(scenario.expected));
  EXPECT_EQ(obs.close_notify_received, scenario.expect_close_notify);
  EXPECT_EQ(obs.fatal_error, scenario.expect_fatal_error);
  EXPECT_EQ(obs.error_detail.empty(), !scenario.expect_fatal_error)
      << "error_detail: '" << obs.error_detail << "'";
  EXPECT_EQ(ERR_peek_error(), 0u) << "ObserveSslResult drains the error queue";
  MarkShutDown(pair);
}

std::string ScenarioName(const ::testing::TestParamInfo<std::tuple<Scenario, TlsVersion>>& info) {
  const auto& [scenario, version] = info.param;
  return std::string(version == TlsVersion::kTls12 ? "tls12_" : "tls13_") +
         std::string(scenario.name);
}

INSTANTIATE_TEST_SUITE_P(Scenarios, CloseKindTest,
                         ::testing::Combine(::testing::ValuesIn(kScenarios),
                                            ::testing::Values(TlsVersion::kTls12,
                                                              TlsVersion::kTls13)),
                         ScenarioName);

// The precedence rules themselves, on observations no real peer could produce together.
TEST(ClassifyCloseTest, PrecedenceOnSyntheticObservations) {
  struct Row {
    std::string_view name;
    CloseObservation obs;
    CloseKind expected;
  };
  auto obs = [](bool done, bool notify, bool fatal, TransportEnd end, bool timed_out) {
    CloseObservation o;
    o.handshake_done = done;
    o.close_notify_received = notify;
    o.fatal_error = fatal;
    o.transport = end;
    o.timed_out = timed_out;
    return o;
  };
  using TE = TransportEnd;
  const Row rows[] = {
      {"no_handshake_beats_all", obs(false, true, true, TE::kReset, true),
       CloseKind::kHandshakeFailed},
      {"close_notify_beats_alert", obs(true, true, true, TE::kReset, true),
       CloseKind::kCloseNotify},
      {"alert_beats_reset", obs(true, false, true, TE::kReset, true), CloseKind::kAlert},
      {"reset_beats_timeout", obs(true, false, false, TE::kReset, true), CloseKind::kReset},
      {"eof_beats_timeout", obs(true, false, false, TE::kEof, true), CloseKind::kEof},
      {"timeout", obs(true, false, false, TE::kOpen, true), CloseKind::kTimeout},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(Name(ClassifyClose(row.obs)), Name(row.expected)) << row.name;
  }
}

}  // namespace
}  // namespace tlslab
