// The vocabulary's names are an interface (flags, JSON keys, plots): each value has one
// distinct name that parses back to it, and unknown names are refused.
#include "lab/vocabulary.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace tlslab {
namespace {

template <typename E, size_t N>
void ExpectNamesRoundTrip(const std::array<E, N>& values) {
  std::set<std::string_view> seen;
  const std::string known = KnownNames<E>();
  for (E v : values) {
    const std::string_view name = Name(v);
    EXPECT_NE(name, "?");
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
    const std::optional<E> back = ParseName<E>(name);
    ASSERT_TRUE(back.has_value()) << name;
    EXPECT_EQ(*back, v) << name;
    EXPECT_NE(known.find(name), std::string::npos) << known;
  }
  EXPECT_FALSE(ParseName<E>("").has_value());
  EXPECT_FALSE(ParseName<E>("no-such-name").has_value());
}

TEST(VocabularyTest, NamesRoundTrip) {
  ExpectNamesRoundTrip(kAllCloseModes);
  ExpectNamesRoundTrip(kAllCloseKinds);
  ExpectNamesRoundTrip(kAllResumptions);
  ExpectNamesRoundTrip(std::array{SessionFate::kKept, SessionFate::kRemoved});
  ExpectNamesRoundTrip(std::array{CheckKind::kConnect, CheckKind::kHttp});
  ExpectNamesRoundTrip(std::array{TlsVersion::kAuto, TlsVersion::kTls12, TlsVersion::kTls13});
  ExpectNamesRoundTrip(std::array{KeyType::kRsa2048, KeyType::kP256});
}

TEST(VocabularyTest, NamesFromDesign) {
  // docs/design.md 2 spells these; flags and JSON keys depend on them.
  EXPECT_EQ(Name(CloseMode::kNotifyReset), "notify-reset");
  EXPECT_EQ(Name(CloseMode::kQuietReset), "quiet-reset");
  EXPECT_EQ(Name(CloseKind::kCloseNotify), "close_notify");
  EXPECT_EQ(Name(CloseKind::kHandshakeFailed), "handshake_failed");
  EXPECT_EQ(Name(Resumption::kPskStateful), "psk-stateful");
  EXPECT_EQ(Name(Resumption::kSessionId), "session-id");
  EXPECT_EQ(Name(KeyType::kRsa2048), "rsa2048");
  EXPECT_EQ(Name(TlsVersion::kTls13), "1.3");
}

}  // namespace
}  // namespace tlslab
