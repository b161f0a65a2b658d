// Checker profiles (how each HAProxy version closes each check kind) and EffectiveCheckPlan
// (explicit knob > profile preset > plain default).
#include <gtest/gtest.h>

#include <string>

#include "lab/config.h"
#include "lab/profiles.h"
#include "lab/testing/usage_error.h"

namespace tlslab {
namespace {

struct PresetRow {
  std::string_view profile;
  CheckKind check;
  CloseMode close;
  bool read_after_handshake;
  std::string_view reason;
};

TEST(CheckerProfileTest, CloseModePerVersionAndCheckKind) {
  const PresetRow rows[] = {
      {"haproxy-1.7.3", CheckKind::kHttp, CloseMode::kQuietReset, true,
       "before 544d48151: SSL_set_quiet_shutdown, then RST through linger_risk"},
      {"haproxy-1.7.3", CheckKind::kConnect, CloseMode::kQuietReset, false,
       "check-ssl reaches SSL_free without SSL_shutdown, then RST"},
      {"haproxy-1.7.4", CheckKind::kHttp, CloseMode::kNotifyReset, true,
       "544d48151 'attempt clean shutw for SSL check': close_notify, then RST"},
      {"haproxy-1.7.4", CheckKind::kConnect, CloseMode::kQuietReset, false,
       "connect checks were not on the fixed path: still no close_notify"},
      {"haproxy-2.6", CheckKind::kHttp, CloseMode::kNotifyReset, true,
       "measured on 2.6.12 (strace): httpchk ends with a close_notify, then SO_LINGER 0"},
      {"haproxy-2.6", CheckKind::kConnect, CloseMode::kQuietReset, false,
       "3d5e12184 (2.2-dev9): CO_SHW_SILENT, the ticket drained unread, then RST (measured)"},
      {"haproxy-3.4", CheckKind::kHttp, CloseMode::kNotifyReset, true,
       "the http close as measured on 2.6 (mux-h1 path assumed unchanged)"},
      {"haproxy-3.4", CheckKind::kConnect, CloseMode::kQuietReset, false,
       "se_shutdown(SE_SHR_DRAIN|SE_SHW_SILENT) for connect checks"},
      {"persistent", CheckKind::kHttp, CloseMode::kKeep, true,
       "one long-lived connection per backend: the request runs on it"},
      {"persistent", CheckKind::kConnect, CloseMode::kKeep, true,
       "one long-lived connection per backend: still open is the check"},
  };
  for (const PresetRow& row : rows) {
    const CheckerProfile& profile = FindCheckerProfile(row.profile);
    EXPECT_EQ(Name(PresetFor(profile, row.check).close), Name(row.close))
        << row.profile << " " << Name(row.check) << ": " << row.reason;
    EXPECT_EQ(PresetFor(profile, row.check).read_after_handshake, row.read_after_handshake)
        << row.profile << " " << Name(row.check) << ": " << row.reason;
  }
}

struct ReuseRow {
  std::string_view profile;
  bool reuse;
  std::string_view reason;
};

TEST(CheckerProfileTest, SessionReusePerVersion) {
  const ReuseRow rows[] = {
      {"haproxy-1.7.3", true, "1.7: one shared reused_sess per server, checks included"},
      {"haproxy-1.7.4", true, "1.7: one shared reused_sess per server, checks included"},
      {"haproxy-2.6", true, "1.8+: per-thread DER copies from ssl_sess_new_srv_cb"},
      {"haproxy-3.4", false,
       "dcce93691 + 420b42df1: CO_FL_SSL_NO_CACHED_INFO, checks never resume"},
      {"persistent", true, "the connection is never closed; reuse only matters on a reconnect"},
  };
  for (const ReuseRow& row : rows) {
    EXPECT_EQ(FindCheckerProfile(row.profile).reuse, row.reuse)
        << row.profile << ": " << row.reason;
  }
}

TEST(CheckerProfileTest, UnknownNameThrowsListingTheKnownOnes) {
  const std::string message = UsageErrorMessage([] { FindCheckerProfile("haproxy-9"); });
  ASSERT_FALSE(message.empty()) << "haproxy-9 must be unknown";
  EXPECT_NE(message.find("'haproxy-9'"), std::string::npos) << message;
  for (const CheckerProfile& profile : CheckerProfiles()) {
    EXPECT_NE(message.find(profile.name), std::string::npos) << message;
  }
}

TEST(CheckerProfileTest, EveryNameFindsItsOwnRow) {
  for (const CheckerProfile& profile : CheckerProfiles()) {
    EXPECT_EQ(&FindCheckerProfile(profile.name), &profile) << profile.name;
  }
}

struct PlanRow {
  std::string_view name;
  CheckerConfig config;
  CheckPlan expected;
  std::string_view reason;
};

CheckerConfig Checker(std::string profile, CheckKind check) {
  CheckerConfig c;
  c.profile = std::move(profile);
  c.check = check;
  return c;
}

template <typename F>
CheckerConfig With(CheckerConfig c, F change) {
  change(c);
  return c;
}

TEST(EffectiveCheckPlanTest, ExplicitKnobBeatsPresetBeatsDefault) {
  using CK = CheckKind;
  using CM = CloseMode;
  const PlanRow rows[] = {
      {"defaults_http",
       Checker("", CK::kHttp),
       {CK::kHttp, CM::kCloseNotify, true, true},
       "no profile: CheckPlan's defaults"},
      {"defaults_connect",
       Checker("", CK::kConnect),
       {CK::kConnect, CM::kCloseNotify, true, true},
       "no profile: the check kind changes nothing"},
      {"knob_without_profile",
       With(Checker("", CK::kHttp), [](auto& c) { c.close = CM::kKeep; }),
       {CK::kHttp, CM::kKeep, true, true},
       "an explicit knob applies without a profile"},
      {"preset_174_http",
       Checker("haproxy-1.7.4", CK::kHttp),
       {CK::kHttp, CM::kNotifyReset, true, true},
       "the profile's http preset"},
      {"preset_174_connect",
       Checker("haproxy-1.7.4", CK::kConnect),
       {CK::kConnect, CM::kQuietReset, true, false},
       "the connect preset: check-ssl closes right after the handshake, reading nothing "
       "(docs/tls-semantics.md 7.4)"},
      {"close_overrides_preset",
       With(Checker("haproxy-1.7.4", CK::kHttp), [](auto& c) { c.close = CM::kCloseNotify; }),
       {CK::kHttp, CM::kCloseNotify, true, true},
       "--close wins over the preset"},
      {"reuse_overrides_profile",
       With(Checker("haproxy-1.7.3", CK::kHttp), [](auto& c) { c.reuse = false; }),
       {CK::kHttp, CM::kQuietReset, false, true},
       "--no-reuse wins over the profile"},
      {"read_overrides_preset",
       With(Checker("haproxy-1.7.3", CK::kConnect), [](auto& c) { c.read_after_handshake = true; }),
       {CK::kConnect, CM::kQuietReset, true, true},
       "--read-after-handshake on wins over the connect preset"},
      {"all_knobs_override",
       With(Checker("haproxy-1.7.3", CK::kConnect),
            [](auto& c) {
              c.close = CM::kQuiet;
              c.reuse = false;
              c.read_after_handshake = true;
            }),
       {CK::kConnect, CM::kQuiet, false, true},
       "every knob at once"},
  };
  for (const PlanRow& row : rows) {
    const CheckPlan plan = EffectiveCheckPlan(row.config);
    SCOPED_TRACE(std::string(row.name) + ": " + std::string(row.reason));
    EXPECT_EQ(Name(plan.check), Name(row.expected.check));
    EXPECT_EQ(Name(plan.close), Name(row.expected.close));
    EXPECT_EQ(plan.reuse, row.expected.reuse);
    EXPECT_EQ(plan.read_after_handshake, row.expected.read_after_handshake);
  }
}

}  // namespace
}  // namespace tlslab
