// One SSL_CTX for every backend of a server process (servers/backend_sessions.h): a session made
// in one backend's session ID context resumes there and is refused by another backend, for
// every resumption mechanism; each backend's share of the cache is bounded apart, oldest out.
#include "servers/backend_sessions.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lab/ossl.h"
#include "lab/testing/bio_pair.h"

namespace tlslab {
namespace {

struct Mechanism {
  std::string_view name;
  TlsVersion version;
  bool tickets;
  bool cached;  // CachedByServer
};

const Mechanism kMechanisms[] = {
    {"tls12_session_id", TlsVersion::kTls12, false, true},
    {"tls12_ticket", TlsVersion::kTls12, true, false},
    {"tls13_stateless", TlsVersion::kTls13, true, false},
    {"tls13_stateful", TlsVersion::kTls13, false, true},
};

class BackendSessionsTest : public ::testing::TestWithParam<Mechanism> {
 protected:
  static void SetUpTestSuite() {
    TlsConfig tls;
    tls.key = KeyType::kP256;
    creds_ = std::make_unique<Credentials>(LoadOrMakeCredentials(tls));
  }
  static void TearDownTestSuite() { creds_.reset(); }
  static inline std::unique_ptr<Credentials> creds_;

  void SetUp() override {
    TlsConfig tls;
    tls.key = KeyType::kP256;
    tls.version = GetParam().version;
    tls.tickets = GetParam().tickets;
    ctx_ = MakeContextPair(tls, *creds_);
    SSL_CTX_sess_set_cache_size(ctx_.server.get(), 0);  // unbounded, as ApplySessionLimits
  }

  // A handshake with the server in backend `sid_ctx`, offering `offer`; the client's session
  // afterwards, whether it resumed, and whether the server's new session is one it caches.
  struct Outcome {
    SslSessionPtr client_session;
    SslSessionPtr server_session;
    bool resumed = false;
    bool cached = false;
  };
  Outcome Handshake(const std::string& sid_ctx, SSL_SESSION* offer = nullptr) {
    BioPair pair = MakeBioPair(ctx_.client.get(), ctx_.server.get(), offer);
    EXPECT_EQ(SSL_set_session_id_context(pair.server.ssl(),
                                         reinterpret_cast<const unsigned char*>(sid_ctx.data()),
                                         static_cast<unsigned int>(sid_ctx.size())),
              1);
    EXPECT_EQ(CompleteHandshake(pair), "");
    Outcome out;
    out.client_session.reset(SSL_get1_session(pair.client.ssl()));
    out.server_session.reset(SSL_get1_session(pair.server.ssl()));
    out.resumed = SSL_session_reused(pair.server.ssl()) == 1;
    out.cached = CachedByServer(pair.server.ssl());
    MarkShutDown(pair);
    return out;
  }

  ContextPair ctx_;
};

TEST_P(BackendSessionsTest, ASessionResumesInItsOwnBackendOnly) {
  const Outcome first = Handshake("tlslab-backend-0");
  EXPECT_FALSE(first.resumed);
  EXPECT_EQ(first.cached, GetParam().cached);
  EXPECT_FALSE(Handshake("tlslab-backend-1", first.client_session.get()).resumed)
      << "another backend must refuse it, as a separate server would";
  EXPECT_TRUE(Handshake("tlslab-backend-0", first.client_session.get()).resumed);
}

TEST_P(BackendSessionsTest, EachBackendKeepsAtMostItsLimitOldestOut) {
  if (!GetParam().cached) GTEST_SKIP() << "a session in a ticket takes no cache entry";
  BackendSessions zero(2), one(2);
  std::vector<Outcome> made;
  for (int i = 0; i < 3; ++i) {
    made.push_back(Handshake("tlslab-backend-0"));
    zero.Added(ctx_.server.get(), made.back().server_session.get());
  }
  const Outcome other = Handshake("tlslab-backend-1");
  one.Added(ctx_.server.get(), other.server_session.get());
  EXPECT_EQ(zero.held(), 2u);
  // A TLS 1.3 full handshake leaves two stateful tickets, this test counts only the one the
  // client keeps; TLS 1.2 leaves one entry per handshake.
  if (GetParam().version == TlsVersion::kTls12) {
    EXPECT_EQ(SSL_CTX_sess_number(ctx_.server.get()), 3);
  }
  EXPECT_FALSE(Handshake("tlslab-backend-0", made[0].client_session.get()).resumed)
      << "the oldest left backend 0's full share";
  EXPECT_TRUE(Handshake("tlslab-backend-1", other.client_session.get()).resumed)
      << "backend 1's share is its own";
}

INSTANTIATE_TEST_SUITE_P(Mechanisms, BackendSessionsTest, ::testing::ValuesIn(kMechanisms),
                         [](const ::testing::TestParamInfo<Mechanism>& p) {
                           return std::string(p.param.name);
                         });

// The profiles remove sessions at nearly every close: what the cache dropped does not pile up.
TEST(BackendSessionsBoundTest, RemovedSessionsAreForgotten) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx.get(), 0);
  BackendSessions sessions(20480);
  for (int i = 0; i < 1000; ++i) {
    SslSessionPtr s(SSL_SESSION_new());
    const unsigned char id[4] = {static_cast<unsigned char>(i), static_cast<unsigned char>(i >> 8),
                                 1, 2};
    ASSERT_EQ(SSL_SESSION_set1_id(s.get(), id, sizeof id), 1);
    ASSERT_EQ(SSL_CTX_add_session(ctx.get(), s.get()), 1);
    sessions.Added(ctx.get(), s.get());
    if (i % 10 != 0) SSL_CTX_remove_session(ctx.get(), s.get());  // nine in ten removed
  }
  EXPECT_EQ(SSL_CTX_sess_number(ctx.get()), 100);
  EXPECT_LE(sessions.held(), 2u * 100 + 8);
  EXPECT_GE(sessions.held(), 100u);
}

}  // namespace
}  // namespace tlslab
