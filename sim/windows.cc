#include "sim/windows.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <utility>

namespace tlslab::sim {
namespace {

// The latest time any checker thread or server core is busy until.
int64_t BusyUntil(const Queues& q) {
  int64_t t = 0;
  for (int64_t v : q.thread_free) t = std::max(t, v);
  for (int64_t v : q.core_free) t = std::max(t, v);
  return t;
}

// What every thread and core still has to do at t.
std::vector<int64_t> Backlog(const Queues& q, int64_t t) {
  std::vector<int64_t> out;
  out.reserve(q.thread_free.size() + q.core_free.size());
  for (int64_t v : q.thread_free) out.push_back(std::max<int64_t>(0, v - t));
  for (int64_t v : q.core_free) out.push_back(std::max<int64_t>(0, v - t));
  return out;
}

// The checks of one period of simulated time, as they go into the series and the histogram.
struct Period {
  int64_t start = -1;
  uint64_t checks = 0;
  bool repeats = true;
  std::array<double, SimSeries::kArrays> sums{};
  LatencyHistogram latency;
  std::vector<int64_t> backlog;  // at its start (Repeat::exact)
  int64_t max_backlog = -1;      // at its start (with jitter)

  void Reset(int64_t at) {
    start = at;
    checks = 0;
    repeats = true;
    sums = {};
    latency = LatencyHistogram{};
    backlog.clear();
    max_backlog = -1;
  }
  void Add(const CheckDone& d) {
    ++checks;
    sums[static_cast<size_t>(d.kind)] += 1;
    if (d.failed) sums[SimSeries::kFailures] += 1;
    sums[SimSeries::kCheckerCpu] += d.checker_us;
    sums[SimSeries::kServerCpu] += d.server_us;
    latency.Record(static_cast<uint64_t>(d.latency_us));
    repeats = repeats && d.repeats;
  }
};

// A slot whose resumptions end at a fixed expiry (one that every use renews, or one that is
// not resumed, keeps its kind for ever).
bool ExpiresFixed(const Model& md, const Slot& s) {
  return md.m.offers && s.client_has && s.server_valid && !md.m.renewed_on_resume;
}

}  // namespace

int RunClosedForm(const Model& md, SimSeries& series, Tally& tally) {
  int up = 0;
  std::vector<Slot> slots(static_cast<size_t>(md.slots));
  for (int b = 0; b < md.n; ++b) {
    Stream st = FirstStream(md, b, 0);
    std::fill(slots.begin(), slots.end(), Slot{});
    ClosedFormStream(md, b, st, slots.data(), md.end, series, tally);
    up += st.health.up() ? 1 : 0;
  }
  return up;
}

WindowsRun RunWindows(const Model& md, const std::vector<Window>& windows, Queues& q,
                      const Repeat& repeat, SimSeries& series, Tally& tally) {
  const uint64_t all = static_cast<uint64_t>(md.n) * static_cast<uint64_t>(md.lbs);
  const uint64_t per = static_cast<uint64_t>(md.slots);
  std::vector<Stream> st(all);
  std::vector<Slot> slots(all * per);
  for (uint64_t i = 0; i < all; ++i) {
    st[i] = FirstStream(md, static_cast<int>(i % md.n), static_cast<int>(i / md.n));
  }
  auto closed_to = [&](int64_t until) {
    for (uint64_t i = 0; i < all; ++i) {
      ClosedFormStream(md, static_cast<int>(i % md.n), st[i], &slots[i * per], until, series,
                       tally);
    }
  };
  const int64_t step = series.step_us();
  const int64_t period = md.inter * (md.pinned ? 1 : md.threads);
  const bool can_repeat = repeat.enabled && step % period == 0;
  const uint64_t checks_per_stream = static_cast<uint64_t>(period / md.inter);
  const uint64_t checks_per_period = all * checks_per_stream;
  Period cur, prev;
  // After the period [b - period, b), b a step boundary: repeat it while nothing changes.
  // Returns the time shift applied to every stream and queue (0: not repeated).
  auto try_repeat = [&](int64_t b) -> int64_t {
    // Every stream checked exactly once per interval in it: none behind its schedule.
    if (!can_repeat || cur.start != b - period || cur.checks != checks_per_period || !cur.repeats) {
      return 0;
    }
    if (repeat.exact) {
      if (cur.backlog != Backlog(q, b)) return 0;
    } else if (!(prev.start == b - 2 * period && prev.repeats &&
                 prev.checks == checks_per_period) &&
               !(cur.max_backlog >= 0 && BusyUntil(q) - b <= cur.max_backlog)) {
      return 0;  // neither two steady periods in a row nor one that ended no more behind
    }
    int64_t horizon = md.end;
    for (uint64_t i = 0; i < all; ++i) {
      horizon = std::min(horizon, st[i].next_restart);
      for (uint64_t s = 0; s < per; ++s) {
        const Slot& slot = slots[i * per + s];
        if (ExpiresFixed(md, slot)) horizon = std::min(horizon, slot.valid_until);
      }
    }
    const int64_t whole_steps = (horizon - b) / step;
    const int64_t shift = whole_steps * step;
    // ExpiryOf counts whole seconds: a shift of whole seconds keeps every renewed expiry exact.
    if (whole_steps < 1 || shift % 1'000'000 != 0) return 0;
    const int64_t periods = shift / period;
    std::array<double, SimSeries::kArrays> per_step = cur.sums;
    for (double& v : per_step) v *= static_cast<double>(step / period);
    series.AddSteps(static_cast<size_t>(b / step), static_cast<size_t>(whole_steps), per_step);
    tally.latency.Merge(cur.latency, static_cast<uint64_t>(periods));
    for (uint64_t i = 0; i < all; ++i) {
      st[i].due += shift;
      st[i].k += checks_per_stream * static_cast<uint64_t>(periods);
      for (uint64_t s = 0; s < per; ++s) {
        Slot& slot = slots[i * per + s];
        if (!ExpiresFixed(md, slot)) slot.valid_until += shift;
      }
    }
    for (int64_t& v : q.thread_free) v += shift;
    for (int64_t& v : q.core_free) v += shift;
    return shift;
  };
  WindowsRun out;
  int64_t stepped_to = 0;  // the end of the last window as extended
  using Entry = std::pair<int64_t, uint64_t>;
  using Heap = std::priority_queue<Entry, std::vector<Entry>, std::greater<>>;
  auto make_heap = [&] {
    std::vector<Entry> entries;
    entries.reserve(all);
    for (uint64_t i = 0; i < all; ++i) {
      if (st[i].due < md.end) entries.emplace_back(st[i].due, i);
    }
    return Heap(std::greater<>{}, std::move(entries));
  };
  for (const Window& w : windows) {
    if (w.from >= md.end) break;
    closed_to(w.from);
    Heap heap = make_heap();
    cur.Reset(-1);
    prev.Reset(-1);
    int64_t stop = w.to;
    int64_t boundary = (w.from / step + 1) * step;  // the next step boundary
    while (!heap.empty() && heap.top().first < md.end) {
      const auto [due, i] = heap.top();
      if (due >= boundary) {
        const int64_t shift = try_repeat(boundary);
        if (shift > 0) {
          out.repeated_us += shift;
          out.repeated_checks += cur.checks * static_cast<uint64_t>(shift / period);
          stop = std::max(stop, boundary + shift);
          heap = make_heap();
          cur.Reset(-1);
          prev.Reset(-1);
          boundary += shift;
          continue;
        }
        boundary = (due / step + 1) * step;
      }
      if (due >= stop) {
        // Past the window: leave it only once every queue has drained, so that the closed
        // form, which has no queues, takes over from idle threads and cores.
        const int64_t busy = BusyUntil(q);
        if (busy <= due) break;
        stop = busy;
        continue;
      }
      if (can_repeat) {
        const int64_t start = due - due % period;
        if (start != cur.start) {
          if (start == cur.start + period) {
            std::swap(prev, cur);
          } else {
            prev.Reset(-1);
          }
          cur.Reset(start);
          if ((start + period) % step == 0) {
            if (repeat.exact) {
              cur.backlog = Backlog(q, start);
            } else {
              cur.max_backlog = std::max<int64_t>(0, BusyUntil(q) - start);
            }
          }
        }
      }
      heap.pop();
      const CheckDone done = StepOne(md, static_cast<int>(i % md.n), static_cast<int>(i / md.n),
                                     st[i], &slots[i * per], &series, tally, &q);
      if (can_repeat) cur.Add(done);
      if (++out.stepped_checks > repeat.max_stepped_checks) {
        out.exhausted = true;
        return out;
      }
      if (st[i].due < md.end) heap.push({st[i].due, i});
    }
    const int64_t from = std::max(w.from, stepped_to);
    stepped_to = std::min(stop, md.end);
    out.stepped_us += std::max<int64_t>(0, stepped_to - from);
  }
  out.stepped_us -= out.repeated_us;
  closed_to(md.end);
  for (uint64_t i = 0; i < static_cast<uint64_t>(md.n); ++i) out.up += st[i].health.up() ? 1 : 0;
  return out;
}

void RecordClosedFormLatency(const Model& md, Tally& tally) {
  for (int kind = 0; kind < kSimKinds; ++kind) {
    tally.latency.Record(static_cast<uint64_t>(md.CheckerCost(kind) + md.ServerCost(kind) +
                                               static_cast<double>(md.NetworkUs(kind))),
                         tally.latency_count[static_cast<size_t>(kind)]);
  }
}

}  // namespace tlslab::sim
