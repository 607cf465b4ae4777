"""Configuration (typed gets, set, load, validate, dump, history, listeners, app keys, recommendations) and the
machine probe."""
import json

import pytest

import memgov
from memgov import Mode

MiB = 1 << 20


def test_typed_values_by_key_type(gov):
    c = gov.config
    assert isinstance(c["batch.max"], int) and not isinstance(c["batch.max"], bool)
    assert c["root.limit"] == 256 * MiB or isinstance(c["root.limit"], int)
    assert isinstance(c["monitor.interval"], float)  # a duration, in seconds
    assert isinstance(c["root.soft_ratio"], float)
    assert c.get("no.such.key", "fallback") == "fallback"
    with pytest.raises(KeyError) as e:
        c["batch.maxx"]
    assert "batch.maxx" in str(e.value)


def test_set_round_trips_and_errors_name_the_range(gov):
    c = gov.config
    c.set("batch.max", 42)
    assert c["batch.max"] == 42 and c.get_text("batch.max") == "42" and c.source("batch.max") == "api"
    c["monitor.interval"] = "250ms"
    assert c["monitor.interval"] == 0.25
    with pytest.raises(memgov.RangeError) as e:
        c.set("root.soft_ratio", 7.5)
    assert "root.soft_ratio" in str(e.value)
    with pytest.raises(memgov.NotFoundError):
        c.set("batch.maxx", 1)
    with pytest.raises((memgov.ParseError, memgov.ConfigTypeError)):
        c.set("batch.max", "many")
    assert "batch.max" in c and "nope" not in c


def test_mode_overlays_follow_the_fallback_machine(gov):
    c = gov.config
    c.set("batch.max", 100)
    c.set("batch.max", 10, mode="light")
    assert c.mode == Mode.NORMAL and c["batch.max"] == 100
    gov.fallback.pin(Mode.LIGHT)
    assert c.mode == Mode.LIGHT and c["batch.max"] == 10
    gov.fallback.unpin()


def test_load_file_non_strict_and_strict(gov, tmp_path):
    f = tmp_path / "a.conf"
    f.write_text("[batch]\nmax = 64\nsizee = 3\n[root]\nsoft_ratio = 5\n")
    res = gov.config.load(f)
    assert gov.config["batch.max"] == 64
    assert any("sizee" in w for w in res.warnings)
    assert res.corrections and "soft_ratio" in res.corrections[0]
    assert gov.config.source("batch.max") == "file"
    bad = tmp_path / "b.conf"
    bad.write_text("[batch]\nmax = lots\n")
    with pytest.raises(memgov.MemgovError) as e:
        gov.config.load(bad, strict=True)
    assert "b.conf:2" in str(e.value)
    with pytest.raises(memgov.NotFoundError):
        gov.config.load(tmp_path / "missing.conf")


def test_validate_reports_without_applying(gov, tmp_path):
    f = tmp_path / "v.conf"
    f.write_text("[batch]\nmax = 9\nmin = nope\nmaxx = 1\n")
    before = gov.config["batch.max"]
    res = gov.config.validate(f)
    assert not res.ok and any("batch.min" in e for e in res.errors)
    assert any("maxx" in w for w in res.warnings)
    assert gov.config["batch.max"] == before
    assert memgov.Config().validate(f, strict=True).errors


def test_load_string_and_env(monkeypatch):
    with memgov.Config() as c:
        res = c.load_string("[batch]\nmax = 12\n", origin="inline")
        assert res.ok and c["batch.max"] == 12
        monkeypatch.setenv("MEMGOV_BATCH_MAX", "13")
        c.load_env()
        assert c["batch.max"] == 13 and c.source("batch.max") == "env"
    with pytest.raises(memgov.StateError):
        c["batch.max"]


def test_dump_text_and_json(gov):
    gov.config.set("batch.max", 21)
    text = gov.config.dump()
    assert "batch.max" in text and "21" in text
    data = json.loads(gov.config.dump(format="json", docs=True))
    assert data["mode"] == "normal"
    entry = next(k for k in data["keys"] if k["key"] == "batch.max")
    assert entry["value"] == "21"
    assert "batch.max" in gov.config.keys()
    with pytest.raises(memgov.InvalidArgumentError):
        gov.config.dump(format="yaml")


def test_history_records_changes(gov):
    gov.config.set("batch.max", 5)
    gov.config.set("batch.max", 6)
    h = [c for c in gov.config.history() if c.key == "batch.max"]
    assert [c.new_value for c in h][-2:] == ["5", "6"] and h[-1].old_value == "5" and h[-1].source == "api"


def test_listeners_hear_changes_and_can_be_removed(gov, callback_errors):
    seen = []
    remove = gov.config.on_change(seen.append)
    gov.config.set("batch.max", 8)
    gov.fallback.pin("light")
    gov.fallback.unpin()
    assert "batch.max" in seen and "mode" in seen
    remove()
    remove()
    gov.config.set("batch.max", 9)
    assert seen.count("batch.max") == 1
    gov.config.on_change(lambda key: 1 / 0)
    gov.config.set("batch.max", 10)
    assert callback_errors and isinstance(callback_errors[0][1], ZeroDivisionError)


def test_application_keys(gov):
    gov.config.register("grid.batch_size", "unsigned", 256, min=1, max=4096, doc="rows per batch")
    gov.config.register("grid.kind", "enum", "fast", choices=["fast", "exact"])
    assert gov.config["grid.batch_size"] == 256 and gov.config["grid.kind"] == "fast"
    with pytest.raises(memgov.RangeError):
        gov.config.set("grid.batch_size", 5000)
    with pytest.raises(memgov.ExistsError):
        gov.config.register("grid.kind", "string", "x")
    with pytest.raises(memgov.InvalidArgumentError):
        gov.config.register("grid.bad", "complex", "1")


def test_recommend_returns_values_and_reasons(gov):
    r = gov.recommend(data_bytes="2GiB")
    assert set(r) == {"memory_fraction", "memory_limit", "threads", "batch_size", "chunk_rows", "reasons"}
    assert 0 < r["memory_fraction"] <= 1 and r["threads"] >= 1 and r["memory_limit"] > 0
    assert set(r["reasons"]) == {"memory_fraction", "threads", "batch_size", "chunk_rows"}
    assert all(isinstance(v, str) and v for v in r["reasons"].values())


def test_probe_reads_the_machine():
    p = memgov.probe()
    assert "meminfo" in p.sources and p.ram_total > 0 and 0 < p.effective_memory <= p.ram_total
    assert p.page_size >= 4096 and p.usable_cpus >= 1
    if "hwloc" in p.sources:
        assert p.logical_cpus >= 1
    assert isinstance(p.simd, frozenset)
    with pytest.raises(Exception):
        p.ram_total = 1


def test_probe_on_a_fixture_tree(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "meminfo").write_text("MemTotal:       8192000 kB\nMemAvailable:   4096000 kB\n"
                                               "SwapTotal: 0 kB\nSwapFree: 0 kB\n")
    p = memgov.probe(root=tmp_path, hwloc=False, cpuid=False)
    assert p.ram_total == 8192000 * 1024 and p.mem_available == 4096000 * 1024
    assert "hwloc" not in p.sources and "cpuid" not in p.sources and p.cpu_model == ""


def test_open_warnings_say_what_opening_found(tmp_path):
    f = tmp_path / "w.conf"
    f.write_text("[batch]\nmaxx = 3\n[root]\nsoft_ratio = 5\n")
    with memgov.Governor(limit="64MiB", config=f, env=False) as gov:
        w = gov.open_warnings
        assert any("maxx" in m for m in w.warnings) and any("soft_ratio" in m for m in w.corrections)
    with memgov.Governor(limit="64MiB", env=False) as gov:
        assert gov.open_warnings == memgov.ValidationResult((), (), ())


def test_probe_reports_rejected_sources(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "meminfo").write_text("MemTotal:       12abc kB\nMemAvailable:   4096000 kB\n")
    p = memgov.probe(root=tmp_path, hwloc=False, cpuid=False)
    assert "meminfo" in p.rejected and "meminfo" in p.rejected_why and p.ram_total == 0
