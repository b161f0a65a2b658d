#include "lab/vocabulary.h"

namespace tlslab {

// Switches without default: -Wswitch flags a new enum value that has no name.
std::string_view Name(CloseMode v) {
  switch (v) {
    case CloseMode::kCloseNotify:
      return "close-notify";
    case CloseMode::kQuiet:
      return "quiet";
    case CloseMode::kQuietReset:
      return "quiet-reset";
    case CloseMode::kNotifyReset:
      return "notify-reset";
    case CloseMode::kKeep:
      return "keep";
  }
  return "?";
}

std::string_view Name(CloseKind v) {
  switch (v) {
    case CloseKind::kCloseNotify:
      return "close_notify";
    case CloseKind::kEof:
      return "eof";
    case CloseKind::kReset:
      return "reset";
    case CloseKind::kAlert:
      return "alert";
    case CloseKind::kTimeout:
      return "timeout";
    case CloseKind::kHandshakeFailed:
      return "handshake_failed";
  }
  return "?";
}

std::string_view Name(Resumption v) {
  switch (v) {
    case Resumption::kSessionId:
      return "session-id";
    case Resumption::kTicket:
      return "ticket";
    case Resumption::kPskStateless:
      return "psk-stateless";
    case Resumption::kPskStateful:
      return "psk-stateful";
  }
  return "?";
}

std::string_view Name(SessionFate v) {
  switch (v) {
    case SessionFate::kKept:
      return "kept";
    case SessionFate::kRemoved:
      return "removed";
  }
  return "?";
}

std::string_view Name(CheckKind v) {
  switch (v) {
    case CheckKind::kConnect:
      return "connect";
    case CheckKind::kHttp:
      return "http";
  }
  return "?";
}

std::string_view Name(TlsVersion v) {
  switch (v) {
    case TlsVersion::kAuto:
      return "auto";
    case TlsVersion::kTls12:
      return "1.2";
    case TlsVersion::kTls13:
      return "1.3";
  }
  return "?";
}

std::string_view Name(KeyType v) {
  switch (v) {
    case KeyType::kRsa2048:
      return "rsa2048";
    case KeyType::kP256:
      return "p256";
  }
  return "?";
}

namespace {

template <typename E>
constexpr auto AllValues() {
  if constexpr (std::is_same_v<E, CloseMode>) {
    return kAllCloseModes;
  } else if constexpr (std::is_same_v<E, CloseKind>) {
    return kAllCloseKinds;
  } else if constexpr (std::is_same_v<E, Resumption>) {
    return kAllResumptions;
  } else if constexpr (std::is_same_v<E, SessionFate>) {
    return std::array{SessionFate::kKept, SessionFate::kRemoved};
  } else if constexpr (std::is_same_v<E, CheckKind>) {
    return std::array{CheckKind::kConnect, CheckKind::kHttp};
  } else if constexpr (std::is_same_v<E, TlsVersion>) {
    return std::array{TlsVersion::kAuto, TlsVersion::kTls12, TlsVersion::kTls13};
  } else {
    return std::array{KeyType::kRsa2048, KeyType::kP256};
  }
}

}  // namespace

template <typename E>
std::optional<E> ParseName(std::string_view text) {
  for (E v : AllValues<E>()) {
    if (Name(v) == text) return v;
  }
  return std::nullopt;
}

template <typename E>
std::string KnownNames() {
  std::string out;
  for (E v : AllValues<E>()) {
    if (!out.empty()) out += ", ";
    out += Name(v);
  }
  return out;
}

#define TLSLAB_INSTANTIATE(E)                               \
  template std::optional<E> ParseName<E>(std::string_view); \
  template std::string KnownNames<E>();
TLSLAB_INSTANTIATE(CloseMode)
TLSLAB_INSTANTIATE(CloseKind)
TLSLAB_INSTANTIATE(Resumption)
TLSLAB_INSTANTIATE(SessionFate)
TLSLAB_INSTANTIATE(CheckKind)
TLSLAB_INSTANTIATE(TlsVersion)
TLSLAB_INSTANTIATE(KeyType)
#undef TLSLAB_INSTANTIATE

}  // namespace tlslab
