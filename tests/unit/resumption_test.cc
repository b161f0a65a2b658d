// Session resumption over BIO pairs: the cache mechanics the server engine relies on. A
// stateful session (TLS 1.2 session ID, TLS 1.3 ticket naming a cache entry) stops resuming
// once SSL_CTX_remove_session takes it out of the server's cache; a stateless ticket (TLS 1.2
// RFC 5077, TLS 1.3 default) carries the session itself and resumes anyway.
#include <gtest/gtest.h>
#include <openssl/err.h>

#include <memory>
#include <string>
#include <vector>

#include "lab/ossl.h"
#include "lab/testing/bio_pair.h"

namespace tlslab {
namespace {

// What a context's new-session callback saw: every session created, in order, with a
// reference each. On the server, as ServerConn::OnNewSession keeps them; on the client, as the
// checker keeps its one saved session per backend (HAProxy's reused_sess).
class SessionCollector {
 public:
  explicit SessionCollector(SSL_CTX* ctx) {
    SSL_CTX_set_ex_data(ctx, Index(), this);
    SSL_CTX_sess_set_new_cb(ctx, [](SSL* ssl, SSL_SESSION* session) {
      auto* self =
          static_cast<SessionCollector*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), Index()));
      self->sessions_.emplace_back(session);
      return 1;  // we keep the reference
    });
  }
  const std::vector<SslSessionPtr>& sessions() const { return sessions_; }

 private:
  static int Index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
  }
  std::vector<SslSessionPtr> sessions_;
};

// What happens to the first connection's sessions on the server before the client comes back.
enum class Between {
  kNothing,              // the session stays where the handshake put it
  kRemove,               // SSL_CTX_remove_session, as ServerConn::ApplyProfile calls it
  kFreeWithoutShutdown,  // SSL_free without SSL_SENT_SHUTDOWN: OpenSSL's implicit removal
};

struct Row {
  std::string_view name;
  TlsVersion version;
  bool tickets;
  Between between;
  bool expect_in_cache;  // the first handshake put a session in the server's cache
  bool expect_resumed;
  std::string_view reason;
};

const Row kRows[] = {
    {"tls12_session_id_kept", TlsVersion::kTls12, false, Between::kNothing, true, true,
     "the server finds the offered session ID in its cache"},
    {"tls12_session_id_removed", TlsVersion::kTls12, false, Between::kRemove, true, false,
     "the ID names an entry that is gone: full handshake (the strict profile's removal)"},
    {"tls12_session_id_freed_without_shutdown", TlsVersion::kTls12, false,
     Between::kFreeWithoutShutdown, true, false,
     "ssl_clear_bad_session (docs/tls-semantics.md 2.1 mechanism 2): why the engine calls "
     "SSL_set_shutdown before SSL_free"},
    {"tls12_ticket_kept", TlsVersion::kTls12, true, Between::kNothing, false, true,
     "the ticket decrypts to the session"},
    {"tls12_ticket_removed", TlsVersion::kTls12, true, Between::kRemove, false, true,
     "RFC 5077: the session travels in the ticket; OpenSSL gives it an empty session ID and "
     "never caches it, so there is nothing to remove"},
    {"tls13_stateful_kept", TlsVersion::kTls13, false, Between::kNothing, true, true,
     "SSL_OP_NO_TICKET in TLS 1.3: the ticket names a cache entry, which is there"},
    {"tls13_stateful_removed", TlsVersion::kTls13, false, Between::kRemove, true, false,
     "the ticket names an entry that is gone (OpenSSL 7e4d731b1c07)"},
    {"tls13_stateless_removed", TlsVersion::kTls13, true, Between::kRemove, false, true,
     "OpenSSL's default TLS 1.3 tickets are never cached (PR 6293): nothing to remove"},
};

class ResumptionTest : public ::testing::TestWithParam<Row> {
 protected:
  static void SetUpTestSuite() {
    TlsConfig tls;
    tls.key = KeyType::kP256;
    creds_ = std::make_unique<Credentials>(LoadOrMakeCredentials(tls));
  }
  static void TearDownTestSuite() { creds_.reset(); }
  static inline std::unique_ptr<Credentials> creds_;
};

TEST_P(ResumptionTest, SecondHandshakeResumesOnlyIfTheSessionSurvived) {
  const Row& row = GetParam();
  SCOPED_TRACE(std::string(row.name) + ": " + std::string(row.reason));
  TlsConfig tls;
  tls.version = row.version;
  tls.tickets = row.tickets;
  ContextPair ctx = MakeContextPair(tls, *creds_);
  SessionCollector collector(ctx.server.get());
  SessionCollector client_collector(ctx.client.get());

  // First connection: a full handshake; the client keeps its session, as HAProxy keeps
  // reused_sess.
  SslSessionPtr saved;
  SslSessionPtr server_session;  // the first connection's, as SSL_get_session returns it
  {
    BioPair first = MakeBioPair(ctx.client.get(), ctx.server.get());
    ASSERT_EQ(CompleteHandshake(first), "");
    EXPECT_EQ(SSL_session_reused(first.server.ssl()), 0);
    saved.reset(SSL_get1_session(first.client.ssl()));
    ASSERT_NE(saved, nullptr);
    server_session.reset(SSL_get1_session(first.server.ssl()));
    ASSERT_NE(server_session, nullptr);
    ASSERT_EQ(SSL_SESSION_is_resumable(saved.get()), 1);
    ASSERT_FALSE(client_collector.sessions().empty())
        << "the client's new-session callback fired (SSL_SESS_CACHE_CLIENT)";
    EXPECT_EQ(client_collector.sessions().back().get(), saved.get())
        << "the callback's last session is the one the client would offer";
    const bool ticket_expected = row.version == TlsVersion::kTls13 || row.tickets;
    EXPECT_EQ(SSL_SESSION_has_ticket(saved.get()), ticket_expected ? 1 : 0)
        << "TLS 1.3 resumes by ticket only; TLS 1.2 by ticket only when tickets are on";
    MarkShutDown(first);
    if (row.between == Between::kFreeWithoutShutdown) {
      SSL_set_shutdown(first.server.ssl(), 0);  // as after SSL_ERROR_SYSCALL, per the man page
    }
  }  // both SSL objects are freed here

  // The engine's removal: every session the connection created (TLS 1.3 makes one per
  // ticket) and the one it used.
  int removed = 0;
  if (row.between != Between::kNothing) {
    for (const SslSessionPtr& session : collector.sessions()) {
      removed += SSL_CTX_remove_session(ctx.server.get(), session.get());
    }
    removed += SSL_CTX_remove_session(ctx.server.get(), server_session.get());
  }
  if (row.between == Between::kRemove) {
    EXPECT_EQ(removed > 0, row.expect_in_cache) << removed << " cache entries removed";
  }
  if (row.between == Between::kFreeWithoutShutdown) {
    EXPECT_EQ(removed, 0) << "SSL_free had already removed the session";
  }

  // Second connection offers the saved session.
  BioPair second = MakeBioPair(ctx.client.get(), ctx.server.get(), saved.get());
  ASSERT_EQ(CompleteHandshake(second), "");
  EXPECT_EQ(SSL_session_reused(second.client.ssl()), row.expect_resumed ? 1 : 0);
  EXPECT_EQ(SSL_session_reused(second.server.ssl()), row.expect_resumed ? 1 : 0);
  MarkShutDown(second);
}

std::string RowName(const ::testing::TestParamInfo<Row>& row) {
  return std::string(row.param.name);
}

INSTANTIATE_TEST_SUITE_P(Rows, ResumptionTest, ::testing::ValuesIn(kRows), RowName);

// The checker keeps its saved session without the server's certificate (lab/ossl.h): the copy
// has no peer, the same session ID, and resumes as the original does.
TEST(PeerlessSessionTest, CopyResumesWithoutTheCertificate) {
  TlsConfig base;
  const Credentials creds = LoadOrMakeCredentials(base);
  for (const auto& [version, tickets] :
       {std::pair{TlsVersion::kTls12, false}, std::pair{TlsVersion::kTls12, true},
        std::pair{TlsVersion::kTls13, true}}) {
    SCOPED_TRACE(std::string(Name(version)) + (tickets ? " tickets" : " session ID"));
    TlsConfig tls;
    tls.version = version;
    tls.tickets = tickets;
    ContextPair ctx = MakeContextPair(tls, creds);
    SslSessionPtr saved;
    {
      BioPair first = MakeBioPair(ctx.client.get(), ctx.server.get());
      ASSERT_EQ(CompleteHandshake(first), "");
      saved.reset(SSL_get1_session(first.client.ssl()));
      MarkShutDown(first);
    }
    ASSERT_NE(SSL_SESSION_get0_peer(saved.get()), nullptr) << "a full handshake keeps the cert";
    SslSessionPtr light = CopyWithoutPeerCertificate(saved.get());
    ASSERT_NE(light, nullptr);
    EXPECT_EQ(SSL_SESSION_get0_peer(light.get()), nullptr);
    unsigned a = 0, b = 0;
    const unsigned char* id_a = SSL_SESSION_get_id(saved.get(), &a);
    const unsigned char* id_b = SSL_SESSION_get_id(light.get(), &b);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(id_a), a),
              std::string(reinterpret_cast<const char*>(id_b), b));
    EXPECT_EQ(SSL_SESSION_has_ticket(light.get()), SSL_SESSION_has_ticket(saved.get()));
    EXPECT_EQ(CopyWithoutPeerCertificate(light.get()), nullptr) << "nothing left to take out";
    BioPair second = MakeBioPair(ctx.client.get(), ctx.server.get(), light.get());
    ASSERT_EQ(CompleteHandshake(second), "");
    EXPECT_EQ(SSL_session_reused(second.client.ssl()), 1);
    EXPECT_EQ(SSL_session_reused(second.server.ssl()), 1);
    MarkShutDown(second);
  }
}

}  // namespace
}  // namespace tlslab
