"""Fed-TCGA-BRCA data bridge (fixed code): FLamby's features and split, without FLamby.

Reproduces `flamby/datasets/fed_tcga_brca/dataset.py` (FLamby main branch):

1. `brca.csv`: one row per patient, `pid`, 39 clinical features (columns 1-39, already
   one-hot encoded and NOT normalised by FLamby: `age_at_index` stays in years), then `E`
   (event observed, 0/1) and `T` (time in days);
2. `train_test_split.csv` (FLamby keeps it in `dataset_creation_scripts/`): `fold2` is
   `train_<c>` or `test_<c>` for center c = 0..5 (FLamby groups TCGA's tissue source sites
   into 6 regions with `centers.csv`; the grouping is already baked into `fold2`);
3. a center's train (test) set = the brca.csv rows whose pid is in `fold2 == train_<c>`
   (`test_<c>`), in brca.csv row order (pandas `isin` keeps the frame's order).

Labels `y` are (event, time) per patient, float32, shape (n, 2), as FLamby's dataset returns.
Sizes (train/test): 248/63, 156/40, 164/42, 129/33, 129/33, 40/11.
`centers.csv` is not read by FLamby's dataset; it is md5-checked and kept as provenance.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from afr_box.tasks.shared.formats.flamby_csv import column, read_table
from afr_box.tasks.shared.prepared import SiteSplit, write_prepared
from afr_box.tasks.shared.sources import DataSourceError, download as fetch_url, verify_md5

# (file, md5, path in FLamby's repository). md5s of FLamby's files (main branch).
FILES = (
    ("brca.csv", "989df4ddec084f749d9593146d7ba92f", "flamby/datasets/fed_tcga_brca/brca.csv"),
    ("centers.csv", "03f23a40c35dfb8460b910d090e98dd5", "flamby/datasets/fed_tcga_brca/centers.csv"),
    ("train_test_split.csv", "e648057e47463ee7763924d779cd7f2d",
     "flamby/datasets/fed_tcga_brca/dataset_creation_scripts/train_test_split.csv"),
)
FLAMBY_RAW_URL = "https://raw.githubusercontent.com/owkin/FLamby/main/"
SOURCE_HINT = ("afr-box data prepare tcga --download (FLamby's GitHub), or --source DIR holding "
               "brca.csv, centers.csv and train_test_split.csv from FLamby's fed_tcga_brca folder")
NUM_CENTERS = 6
NUM_FEATURES = 39
LABELS = ("E", "T")
SPLIT_NOTE = ("FLamby Fed-TCGA-BRCA: static split train_test_split.csv, fold2 = train_<c>/test_<c> "
              "for the 6 regions; rows in brca.csv order; features as in brca.csv (no normalisation)")


def _read(folder: Path) -> tuple[list[str], dict]:
    """Feature names, and pids, the numeric table (features, E, T) and pid -> fold2."""
    header, rows = read_table(folder / "brca.csv", ["pid", *LABELS], "FLamby's fed_tcga_brca/brca.csv")
    if len(header) != 1 + NUM_FEATURES + len(LABELS) or header[0] != "pid" or tuple(header[-2:]) != LABELS:
        raise DataSourceError(f"brca.csv: expected columns pid, {NUM_FEATURES} features, E, T; "
                              f"got {len(header)} columns")
    split_header, split = read_table(folder / "train_test_split.csv", ["pid", "fold", "fold2"],
                                     "FLamby's fed_tcga_brca/dataset_creation_scripts/train_test_split.csv")
    fold_of = dict(zip(column(split_header, split, "pid"), column(split_header, split, "fold2")))
    pids = [r[0] for r in rows]
    table = np.asarray([[float(v) for v in r[1:]] for r in rows], dtype=np.float64)
    return header[1:1 + NUM_FEATURES], {"pids": pids, "table": table, "fold_of": fold_of}


def build_sites(folder: Path) -> tuple[list[str], list[SiteSplit]]:
    """Feature names and the six FLamby centers from md5-verified files in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataSourceError(f"tcga data folder {folder} does not exist; pass the folder holding "
                              f"{', '.join(n for n, _, _ in FILES)} or use --download")
    for name, md5, _ in FILES:
        verify_md5(folder / name, md5)
    features, data = _read(folder)
    folds = np.asarray([data["fold_of"].get(pid, "") for pid in data["pids"]])
    x = data["table"][:, :NUM_FEATURES].astype(np.float32)
    y = data["table"][:, NUM_FEATURES:].astype(np.float32)     # (E, T)
    sites = []
    for c in range(NUM_CENTERS):
        train, test = folds == f"train_{c}", folds == f"test_{c}"
        sites.append(SiteSplit(x[train], y[train], x[test], y[test]))
    return features, sites


def _check_options(options: dict | None) -> None:
    for key, value in (options or {}).items():
        if key == "num_clients":
            if value != NUM_CENTERS:
                raise ValueError(f"tcga has exactly {NUM_CENTERS} clients (FLamby regions), got num_clients={value}")
        else:
            raise ValueError(f"unknown tcga data option {key!r}; tcga takes none")


def prepare(dest: Path, source: Path | None = None, download: bool = False,
            options: dict | None = None) -> Path:
    """Prepare Fed-TCGA-BRCA into `dest` from a local folder (`source`) or FLamby's GitHub."""
    _check_options(options)
    if download and source is not None:
        raise DataSourceError("give either a source folder or download=True, not both")
    if not download and source is None:
        raise DataSourceError("tcga needs FLamby's three CSV files: pass a source folder (--source) or --download")
    with tempfile.TemporaryDirectory(prefix="afr-tcga-") as tmp:
        folder = Path(source) if source is not None else Path(tmp)
        if download:
            for name, _, repo_path in FILES:
                fetch_url(FLAMBY_RAW_URL + repo_path, folder / name)
        features, sites = build_sites(folder)
    provenance = {
        "dataset": "Fed-TCGA-BRCA (FLamby, MIT; TCGA-BRCA clinical data, NIH GDC)",
        "files": {name: md5 for name, md5, _ in FILES},
        "centers": list(range(NUM_CENTERS)),
        "features": features,
        "target": "y = (E, T): event observed (0/1), time in days",
        "split": SPLIT_NOTE,
    }
    return write_prepared(dest, "tcga", sites, provenance)
