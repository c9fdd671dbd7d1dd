"""Memory does not grow with the data (the small CI variant of benchmarks/scale.py).

The same FLamby-format camelyon set at 1x and 4x the slides: `data prepare`'s peak RSS and the
training container's peak anonymous memory must stay flat. A design that loads a site whole
(the .npz layout before this one: prepare peaked at 2.1x the data, every client held its site)
grows by at least the extra data, far past the bounds asserted here. The same for a LEAF bridge's
prepare (CelebA's JPEGs at 1x and 4x), whose spool was once mapped whole while sites were copied
from it (RSS grew by the whole spool).
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import scale  # noqa: E402  (benchmarks/scale.py: its generators and measurements)

from task_campaign import run_short_campaign  # noqa: E402

TILES = 6000  # 48 MB per slide


def _source(tmp: Path, factor: int) -> Path:
    return scale.camelyon_source(tmp / f"src-{factor}x", slides_per_site=2 * factor, tiles=TILES,
                                 test_per_site=2 * factor)  # both classes at every site


def _prepare_growth(task: str, make_source, tmp_path: Path) -> tuple[int, int]:
    """(extra prepared bytes, extra peak RSS of `data prepare`) from 1x to 4x the data."""
    measured = {}
    for factor in (1, 4):
        source = make_source(tmp_path / f"src-{factor}x", factor)
        measured[factor] = scale.prepare(task, source, tmp_path / f"data-{factor}x", tmp_path / f"{factor}.log")
        shutil.rmtree(source)
    return (measured[4]["data_bytes"] - measured[1]["data_bytes"],
            measured[4]["prepare_peak_rss"] - measured[1]["prepare_peak_rss"])


def test_prepare_memory_is_flat_in_the_data_size(tmp_path):
    grown_data, grown_rss = _prepare_growth("camelyon", lambda dest, factor: _source(dest.parent, factor), tmp_path)
    assert grown_data > 400e6
    assert grown_rss < 0.15 * grown_data, (f"prepare's peak RSS grew by {grown_rss / 1e6:.0f} MB for "
                                           f"{grown_data / 1e6:.0f} MB more data")


def _celeba_source(dest: Path, factor: int) -> Path:
    return scale.leaf_source(dest, 2000 * factor, scale.celeba_x_maker(dest / "raw" / "img_align_celeba"),
                             per_user=21, prefix="c")


def test_leaf_prepare_memory_is_flat_in_the_data_size(tmp_path):
    grown_data, grown_rss = _prepare_growth("celeba", _celeba_source, tmp_path)
    assert grown_data > 100e6
    # The spool mapped whole while the sites were copied grew it by 57 MB for these 127 MB (0.45x).
    assert grown_rss < 0.3 * grown_data, (f"prepare's peak RSS grew by {grown_rss / 1e6:.0f} MB for "
                                          f"{grown_data / 1e6:.0f} MB more data")


@pytest.mark.docker
def test_training_container_memory_is_flat_in_the_data_size(tmp_path, sandbox):
    train_bytes, anon = {}, {}
    for factor in (1, 4):
        work = tmp_path / f"{factor}x"
        source = _source(work, factor)
        folder, rows = run_short_campaign("camelyon", source, work, rounds=1, local_steps=2, batch_size=2)
        assert rows[0].status == "keep", rows[0].reason
        shutil.rmtree(source)
        train = work / "afr-data" / "camelyon" / "train"
        train_bytes[factor] = sum(p.stat().st_size for p in train.rglob("*.npy"))
        resources = json.loads((folder / "candidates" / "0000" / "resources.json").read_text())
        anon[factor] = resources["train"]["peak_anon_bytes"]
        assert anon[factor] and resources["train"]["peak_cache_bytes"] is not None
    grown_data, grown_anon = train_bytes[4] - train_bytes[1], anon[4] - anon[1]
    assert grown_data > 500e6
    # Clients that hold their sites grow by at least all of the extra training data (both sites
    # train at once). The peak of ~1.3 GB (NVFlare, two clients, the model) varies by about
    # +-0.1 GB between runs of the same data (measured: -31 MB here, +142 MB in a CI run), so the
    # bound sits halfway: far from both.
    assert grown_anon < 0.5 * grown_data, (f"the training container's anonymous memory grew by "
                                            f"{grown_anon / 1e6:.0f} MB for {grown_data / 1e6:.0f} MB more training data")
