"""benchmarks.figures: rliable figures from whatever result JSONs are on disk (tiny budget)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from benchmarks import figures, plots

PNG = b"\x89PNG\r\n\x1a\n"
VARIANTS = ("metadqn", "nearest-source", "scratch")


def attribution_report(env_id: str, split: str, tasks: list, curves: bool) -> dict:
    """A small attribution result in the layout benchmarks.attribution writes."""
    rng = np.random.default_rng(len(tasks))
    shift = {"metadqn": 0.6, "nearest-source": 0.2, "scratch": 0.0}
    rows = [
        {
            "variant": v,
            "task_id": t,
            "jumpstart": float(np.round(shift[v] + rng.uniform(0, 0.4), 1)),
        }
        for v in VARIANTS
        for t in tasks
    ]
    report = {
        "benchmark": "attribution",
        "args": {"env_id": env_id, "split": split, "threshold": 0.9, "curve_seeds": 2},
        "evaluation": "exact",
        "jumpstart": {v: {} for v in VARIANTS},
        "jumpstart_rows": rows,
    }
    if curves:
        results = []
        for method in ("metadqn", "scratch"):
            for task in tasks[:3]:
                for seed in range(2):
                    values = np.clip(shift[method] + rng.uniform(0, 0.5, 4).cumsum() / 2, -1, 1)
                    results.append(
                        {"method": method, "task_id": task, "seed": seed, "steps": [0, 100, 200, 300],
                         "values": values.tolist(), "auc": float(values.mean())}
                    )  # fmt: skip
        report["curves"] = {"results": results}
    return report


def throughput_report(pairs: list[str]) -> dict:
    rows = []
    for k, ours in enumerate(pairs):
        ours_samples = [1000.0 + 100 * k + j for j in range(3)]
        original_samples = [900.0, 1000.0, 1100.0]
        rows.append(
            {"pair": f"{ours} vs X", "kind": "grid", "ours": ours, "original": "X",
             "ours_steps_per_s": float(np.median(ours_samples)),
             "ratio": float(np.median(ours_samples) / 1000.0), "target": 1.0, "passed": True,
             "ours_samples_steps_per_s": ours_samples,
             "original_samples_steps_per_s": original_samples}
        )  # fmt: skip
    return {"benchmark": "env_throughput", "repeats": 3, "steps": 100, "rows": rows}


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    (root / "attribution").mkdir(parents=True)
    (root / "recommend").mkdir()
    files = {
        "attribution/attribution_MetaNav-v0.json": attribution_report(
            "MetaNav-v0", "test", list(range(800, 808)), curves=True
        ),
        "attribution/attribution_MetaCartPole-v0_extrapolation.json": attribution_report(
            "MetaCartPole-v0",
            "extrapolation",
            ["gravity=0.5low", "mass=1.5high", "force=0.5low"],
            curves=False,
        ),
        "attribution/attribution_MetaNav-v0.csv": "not read",
        "env_throughput.json": throughput_report(["MetaNav-v0", "MetaCartPole-v0"]),
        "recommend/env_throughput.json": throughput_report(["MetaRecommend-v0"]),
        "learn_throughput_MetaNav-v0.json": {
            "benchmark": "learn_throughput",
            "args": {"env_id": "MetaNav-v0", "steps": 100, "repeats": 3},
            "task_id": 800,
            "steps_per_second": {"MetaDQN": [900.0, 1000.0, 1100.0], "DQN": [950.0, 990.0, 1200.0]},
        },
    }
    for name, content in files.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (root / name).write_text(text)
    return root


def run(results_dir: Path, out: Path, seed: int = 0) -> dict:
    return figures.main(
        figures.Args(results_dir=str(results_dir), output_dir=str(out), reps=20, seed=seed)
    )


def test_every_family_file_gets_its_figures_and_nothing_else_is_left(results_dir, tmp_path):
    out = tmp_path / "figures"
    report = run(results_dir, out)
    nav = "attribution_MetaNav-v0"
    cart = "attribution_MetaCartPole-v0_extrapolation"
    expected = {
        f"{nav}_aggregates.png", f"{nav}_profiles.png", f"{nav}_improvement.png",
        f"{nav}_curves.png", f"{cart}_aggregates.png", f"{cart}_profiles.png",
        f"{cart}_improvement.png", "env_throughput.png", "recommend.png", "figures.json",
        "learn_throughput_MetaNav-v0.png",
    }  # fmt: skip
    assert {p.name for p in out.iterdir()} == expected  # no temporary files left
    for name in expected - {"figures.json"}:
        assert (out / name).read_bytes()[:8] == PNG, name
    saved = json.loads((out / "figures.json").read_text())
    assert saved["attribution"][cart]["figures"] == [
        f"{cart}_aggregates.png", f"{cart}_profiles.png", f"{cart}_improvement.png",
    ]  # fmt: skip
    assert set(saved["attribution"][nav]["improvement"]) == {"jumpstart", "AUC"}
    assert "AUC" not in saved["attribution"][cart]["improvement"]  # no curves in that file
    assert set(saved["inputs"]) == {
        "attribution/attribution_MetaNav-v0.json",
        "attribution/attribution_MetaCartPole-v0_extrapolation.json",
        "env_throughput.json",
        "recommend/env_throughput.json",
        "learn_throughput_MetaNav-v0.json",
    }
    assert saved["args"]["reps"] == 20
    assert report["throughput"] == [
        "env_throughput.png", "recommend.png", "learn_throughput_MetaNav-v0.png",
    ]  # fmt: skip


def test_estimates_are_those_of_the_data_in_the_files(results_dir, tmp_path):
    report = run(results_dir, tmp_path / "figures")
    data = json.loads((results_dir / "attribution/attribution_MetaNav-v0.json").read_text())
    jump = {v: np.array([r["jumpstart"] for r in data["jumpstart_rows"] if r["variant"] == v]) for v in VARIANTS}  # fmt: skip
    drawn = report["attribution"]["attribution_MetaNav-v0"]
    for variant in VARIANTS:
        point, low, high = drawn["aggregates"][variant]["IQM"]
        assert point == pytest.approx(stats.trim_mean(jump[variant], 0.25))
        assert low <= point <= high
        gap = drawn["aggregates"][variant]["Optimality Gap"][0]
        assert gap == pytest.approx(np.mean(np.maximum(1.0 - jump[variant], 0.0)))
    for other in ("nearest-source", "scratch"):
        wins = np.mean(jump["metadqn"] > jump[other]) + 0.5 * np.mean(
            jump["metadqn"] == jump[other]
        )
        point, low, high = drawn["improvement"]["jumpstart"][other]
        assert point == pytest.approx(wins)
        assert low <= point <= high
    # AUC: a run of MetaDQN against a run of scratch on the same task, averaged over tasks
    auc = {}
    for r in data["curves"]["results"]:
        auc.setdefault((r["method"], r["task_id"]), []).append(r["auc"])
    per_task = [
        np.mean([(x > y) + 0.5 * (x == y) for x in auc["metadqn", t] for y in auc["scratch", t]])
        for t in range(800, 803)
    ]
    assert drawn["improvement"]["AUC"]["scratch"][0] == pytest.approx(np.mean(per_task))


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others():
    report = attribution_report("MetaNav-v0", "test", list(range(800, 808)), curves=True)
    scores = figures.jumpstart_scores(report)
    curves = report["curves"]["results"]

    def estimates(seed: int) -> list:
        return [
            plots.interval_estimates(scores, figures.aggregate_metrics, reps=30, seed=seed, task_bootstrap=True),
            figures.jumpstart_improvement(scores, reps=30, seed=seed),
            figures.auc_improvement(curves, reps=30, seed=seed),
        ]  # fmt: skip

    first, again, other = estimates(0), estimates(0), estimates(1)
    for (_, interval_a), (_, interval_b) in zip(first, again, strict=True):
        for key in interval_a:
            np.testing.assert_array_equal(interval_a[key], interval_b[key])
    aggregates_0, aggregates_1 = first[0][1], other[0][1]
    assert any(not np.array_equal(aggregates_0[k], aggregates_1[k]) for k in aggregates_0)
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    estimates(0)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002  # restored


def test_only_tasks_every_variant_was_measured_on_are_compared():
    report = attribution_report("MetaNav-v0", "test", [800, 801, 802], curves=False)
    report["jumpstart_rows"] = [
        r
        for r in report["jumpstart_rows"]
        if not (r["variant"] == "scratch" and r["task_id"] == 801)
    ]
    scores = figures.jumpstart_scores(report)
    assert list(scores) == list(VARIANTS)
    assert all(s.shape == (1, 2) for s in scores.values())


def test_no_results_no_figures_and_bad_reps_are_refused(tmp_path):
    report = run(tmp_path / "empty", tmp_path / "figures")
    assert report["attribution"] == {}
    assert report["throughput"] == []
    with pytest.raises(ValueError, match="reps must be >= 1, got 0"):
        figures.main(figures.Args(results_dir=str(tmp_path), output_dir=str(tmp_path), reps=0))


def test_probability_of_improvement_is_rliables():
    from rliable import metrics

    rng = np.random.default_rng(0)
    x = np.round(rng.uniform(size=(5, 7)), 1)  # ties within and across algorithms
    y = np.round(rng.uniform(size=(3, 7)), 1)
    y[:, 0] = x[:3, 0]
    assert plots.probability_of_improvement(x, y) == pytest.approx(
        metrics.probability_of_improvement(x, y)
    )
    assert plots.probability_of_improvement(x[:1], x[:1]) == 0.5


def test_iqm_curve_is_rliables_iqm_at_every_evaluation():
    from rliable import metrics

    curves = np.random.default_rng(1).normal(size=(4, 6, 5))
    point, low, high = plots.iqm_curve(curves, reps=30)
    expected = [metrics.aggregate_iqm(curves[..., k]) for k in range(5)]
    assert point == pytest.approx(expected)
    assert np.all(low <= point)
    assert np.all(point <= high)


def test_figures_parses_args():
    args = figures.parse_args(["--reps", "50", "--seed", "3"])
    assert (args.reps, args.seed) == (50, 3)


def test_the_benchmarks_readme_links_only_figures_that_exist():
    readme = Path(figures.__file__).with_name("README.md")
    links = re.findall(r"\]\((results/figures/[^)]+)\)", readme.read_text())
    assert len(links) > 30
    for link in links:
        assert (readme.parent / link).is_file(), link
