"""tlslab.plot: the figures are produced, non-empty, in PNG and SVG, with readable labels."""

from __future__ import annotations

import pandas
import pytest

import tlslab
import tlslab.plot as plot


def sweep_frame() -> pandas.DataFrame:
    """A sweep's shape without the runs: two pairs x two TLS versions x four backend counts;
    the broken pair's checker crosses 90 % of a core at 1000 backends."""
    rows = []
    for checker, server, per_check in (
        ("haproxy-1.7.3", "strict", 1800.0),
        ("haproxy-1.7.4", "strict", 400.0),
    ):
        for tls in ("1.2", "1.3"):
            for backends in (10, 100, 1000, 2000):
                checks = backends / 2.0
                cpu = min(100.0, checks * per_check / 1e4)
                rows.append(
                    dict(
                        checker_profile=checker,
                        server_profile=server,
                        tls=tls,
                        backends=backends,
                        inter_s=2.0,
                        key_rate_per_s=checks if checker.endswith("3") else 0.0,
                        resumption_ratio=0.0 if checker.endswith("3") else 1.0,
                        checker_cpu_percent=cpu,
                        server_cpu_percent=cpu * 0.8,
                        checker_cpu_us_per_check=per_check,
                        server_cpu_us_per_check=per_check * 0.8,
                    )
                )
    return pandas.DataFrame(rows)


def assert_written(paths, *texts):
    png, svg = paths
    assert png.suffix == ".png" and svg.suffix == ".svg"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and len(text) > 20_000
    for t in texts:  # matplotlib writes text in SVG as glyph paths, with the text in comments
        assert t in text, t


def test_scaling_marks_the_knee(tmp_path):
    fig = plot.scaling(sweep_frame())
    key, checker, server = fig.axes[:3]
    assert key.get_ylabel() == "key rate (full handshakes/s)"
    assert checker.get_ylabel() == "checker CPU (% of one core)"
    assert server.get_ylabel() == "server CPU (% of one core)"
    assert all(
        ax.get_xscale() == "log" and ax.get_xlabel() == "backends (log scale)"
        for ax in (key, checker, server)
    )
    # A line per pair and TLS version, one core, and the knee at 1000 backends.
    labels = [line.get_label() for line in checker.get_lines()]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "haproxy-1.7.3 → strict, TLS 1.2" in legend
    assert "haproxy-1.7.4 → strict, TLS 1.3" in legend
    knee_lines = [line for line in checker.get_lines() if list(line.get_xdata()) == [1000, 1000]]
    assert knee_lines, f"no knee marked at 1000 backends: {labels}"
    assert any("one core" == t.get_text() for t in checker.texts)
    assert_written(plot.save(fig, tmp_path / "scaling"), "key rate", "backends")


def test_resumption_heatmap(tmp_path):
    fig = plot.resumption_heatmap(sweep_frame(), facet="tls")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["TLS 1.2", "TLS 1.3"]
    cells = sorted(t.get_text() for t in fig.axes[0].texts)
    assert cells == ["0.00", "1.00"]
    assert_written(plot.save(fig, tmp_path / "heat"), "resumption ratio")


def test_pairs(tmp_path):
    df = sweep_frame().query("backends == 100 and tls == '1.2'")
    fig = plot.pairs(df)
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "key rate (full handshakes/s)",
        "resumption ratio (resumed / handshakes)",
        "checker CPU (% of one core)",
        "server CPU (% of one core)",
    ]
    assert_written(plot.save(fig, tmp_path / "pairs"), "checker CPU")


@pytest.fixture(scope="module")
def two_runs() -> dict[str, tlslab.Result]:
    common = dict(server_profile="strict", backends=5, inter="500ms", duration="2s")
    return {
        checker: tlslab.run(checker_profile=checker, **common)
        for checker in ("haproxy-1.7.3", "haproxy-1.7.4")
    }


def test_time_series_of_one_run_and_of_two(tmp_path, two_runs):
    one = plot.time_series(two_runs["haproxy-1.7.3"])
    top, bottom = one.axes[:2]
    assert top.get_ylabel() == "handshakes/s" and bottom.get_ylabel() == "CPU (% of one core)"
    assert bottom.get_xlabel() == "time since start (s)"
    assert all(len(line.get_xdata()) == 2 for line in top.get_lines())
    assert "haproxy-1.7.3 (quiet-reset) → strict" in one._suptitle.get_text()
    assert_written(plot.save(one, tmp_path / "one"), "handshakes")
    both = plot.time_series(two_runs, title="before and after")
    assert len(both.axes[1].get_lines()) == 4  # checker and server CPU per run
    paths = plot.save(both, tmp_path / "sub" / "both", formats=("png",))
    assert [p.name for p in paths] == ["both.png"] and paths[0].stat().st_size > 20_000
