// The kinds of flag (string, int, number, duration, enum, on/off, switch) as builders of rows
// of the one flag table (lab/flag_table.cc): each row binds a flag to its Config field with a
// typed setter and getter. Internal to lab/flag_table.cc and lab/flag_text.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "lab/errors.h"
#include "lab/flag_table.h"

namespace tlslab::flag_kinds {

template <typename E>
std::vector<std::string> ChoicesOf() {
  // KnownNames is "a, b, c": the one list of names (lab/vocabulary.h).
  std::vector<std::string> out;
  const std::string all = KnownNames<E>();
  size_t start = 0;
  while (start < all.size()) {
    size_t end = all.find(", ", start);
    if (end == std::string::npos) end = all.size();
    out.push_back(all.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

// Field accessors are generic lambdas `[](auto& c) -> auto& { return c.x.y; }`, which serve
// for both the const (get) and the mutable (set) side. An optional field reads as monostate
// when unset.
template <typename A>
FlagValue Read(const Config& c, A access, auto convert) {
  const auto& v = access(c);
  if constexpr (requires { v.has_value(); }) {
    if (!v) return std::monostate{};
    return FlagValue(convert(*v));
  } else {
    return FlagValue(convert(v));
  }
}

template <typename T>
const T& As(const Flag& flag, const FlagValue& v) {
  if (const T* p = std::get_if<T>(&v)) return *p;
  throw UsageError("--" + flag.name + ": a value of the wrong type for a " +
                   std::string(Name(flag.type)) + " flag");
}

inline Flag Make(std::string name, FlagType type, std::string value_name, std::string help,
                 std::vector<Command> commands) {
  Flag f;
  f.name = std::move(name);
  f.type = type;
  f.value_name = std::move(value_name);
  f.help = std::move(help);
  f.commands = std::move(commands);
  return f;
}

template <typename A>
Flag StringFlag(std::string name, std::string value_name, std::string help,
                std::vector<Command> commands, A access) {
  Flag f = Make(std::move(name), FlagType::kString, std::move(value_name), std::move(help),
                std::move(commands));
  f.set = [access, f](Config& c, const FlagValue& v) {
    access(c) = std::holds_alternative<std::monostate>(v) ? std::string() : As<std::string>(f, v);
  };
  f.get = [access](const Config& c) -> FlagValue {
    const std::string& v = access(c);
    if (v.empty()) return std::monostate{};
    return v;
  };
  return f;
}

// Whole numbers from `lo` to `hi` (the field's type bounds the range; Validate() checks the
// ranges that depend on other fields).
template <typename A>
Flag IntFlag(std::string name, std::string help, std::vector<Command> commands, A access,
             int64_t lo = 0, int64_t hi = std::numeric_limits<int32_t>::max()) {
  Flag f = Make(std::move(name), FlagType::kInt, "N", std::move(help), std::move(commands));
  f.set = [access, f, lo, hi](Config& c, const FlagValue& v) {
    using T = std::remove_reference_t<decltype(access(c))>;
    if constexpr (requires { typename T::value_type; }) {  // an optional field: unset is allowed
      if (std::holds_alternative<std::monostate>(v)) {
        access(c).reset();
        return;
      }
    }
    const int64_t n = As<int64_t>(f, v);
    if (n < lo || n > hi) {
      BadFlagValue(f.name, std::to_string(n),
                   hi == std::numeric_limits<int64_t>::max()
                       ? "a whole number >= " + std::to_string(lo)
                       : "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    if constexpr (requires { typename T::value_type; }) {
      access(c) = static_cast<typename T::value_type>(n);
    } else {
      access(c) = static_cast<T>(n);
    }
  };
  f.get = [access](const Config& c) -> FlagValue {
    return Read(c, access, [](auto x) { return static_cast<int64_t>(x); });
  };
  return f;
}

// A decimal number above `above` and at most `most`.
template <typename A>
Flag NumberFlag(std::string name, std::string help, std::vector<Command> commands, A access,
                double above, double most) {
  Flag f = Make(std::move(name), FlagType::kNumber, "F", std::move(help), std::move(commands));
  f.set = [access, f, above, most](Config& c, const FlagValue& v) {
    const double x = As<double>(f, v);
    if (!(x > above && x <= most)) {
      char want[96];
      std::snprintf(want, sizeof want, "a number above %g and at most %g", above, most);
      BadFlagValue(f.name, FlagText(f, v).front(), want);
    }
    access(c) = x;
  };
  f.get = [access](const Config& c) -> FlagValue { return access(c); };
  return f;
}

template <typename A>
Flag DurationFlag(std::string name, std::string help, std::vector<Command> commands, A access) {
  Flag f = Make(std::move(name), FlagType::kDuration, "D", std::move(help), std::move(commands));
  f.set = [access, f](Config& c, const FlagValue& v) {
    const Millis d = As<Millis>(f, v);
    if (d.count() < 0) BadFlagValue(f.name, FormatDuration(d), "a duration >= 0");
    access(c) = d;
  };
  f.get = [access](const Config& c) { return Read(c, access, [](Millis m) { return m; }); };
  return f;
}

template <typename E, typename A>
Flag EnumFlag(std::string name, std::string help, std::vector<Command> commands, A access) {
  Flag f = Make(std::move(name), FlagType::kEnum, "NAME", std::move(help), std::move(commands));
  f.choices = ChoicesOf<E>();
  f.set = [access, f](Config& c, const FlagValue& v) {
    const std::string& text = As<std::string>(f, v);
    auto e = ParseName<E>(text);
    if (!e) BadFlagValue(f.name, text, "one of " + KnownNames<E>());
    access(c) = *e;
  };
  f.get = [access](const Config& c) {
    return Read(c, access, [](E e) { return std::string(Name(e)); });
  };
  return f;
}

template <typename A>
Flag OnOffFlag(std::string name, std::string help, std::vector<Command> commands, A access) {
  Flag f = Make(std::move(name), FlagType::kOnOff, "on|off", std::move(help), std::move(commands));
  f.set = [access, f](Config& c, const FlagValue& v) { access(c) = As<bool>(f, v); };
  f.get = [access](const Config& c) { return Read(c, access, [](bool b) { return b; }); };
  return f;
}

template <typename A>
Flag SwitchFlag(std::string name, std::string help, std::vector<Command> commands, A access,
                FlagRole role = FlagRole::kField) {
  Flag f = Make(std::move(name), FlagType::kSwitch, "", std::move(help), std::move(commands));
  f.role = role;
  f.set = [access, f](Config& c, const FlagValue& v) { access(c) = As<bool>(f, v); };
  f.get = [access](const Config& c) -> FlagValue { return static_cast<bool>(access(c)); };
  return f;
}

}  // namespace tlslab::flag_kinds
