"""Fed-Heart-Disease data bridge (fixed code): FLamby's preprocessing and splits, without FLamby.

Reproduces `flamby/datasets/fed_heart_disease/dataset.py` (FLamby main branch) exactly:

1. read the four UCI `processed.<center>.data` files, `?` = missing; centers 0 cleveland,
   1 hungarian, 2 switzerland, 3 va;
2. drop columns 10-12 (slope, ca, thal), then every row with a missing value;
3. target `num > 0` (float 0/1); one-hot `cp` and `restecg` over the pooled categories with
   the first category dropped (pandas get_dummies(drop_first=True)): 8 + 3 + 2 = 13 features,
   plain columns first, then cp_2, cp_3, cp_4, restecg_1, restecg_2;
4. per center, sklearn `train_test_split(train_size=0.66, test_size=0.34, random_state=43,
   shuffle=True, stratify=num>0 when both classes have > 2 rows)`, re-implemented below
   draw for draw on numpy's RandomState; rows keep their file order within each part;
5. normalise each center with the mean and unbiased std of its own training rows:
   (x - mean) / (std + 1e-9), FLamby's default `normalize=True`.

Checked against FLamby's code run with pandas + scikit-learn 1.9.1: raw features, labels
and split rows are bit-identical; normalised values agree to within one float32 ulp.

Sizes (train/test): 199/104, 172/89, 30/16, 85/45.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
import numpy as np

from afr_box.tasks.shared.prepared import SiteSplit, write_prepared
from afr_box.tasks.shared.sources import DataSourceError, download as fetch_url, verify_md5

# FLamby center order; md5s of the files FLamby downloads (see ../shared/data/README.md).
FILES = (
    ("processed.cleveland.data", "2d91a8ff69cfd9616aa47b59d6f843db"),
    ("processed.hungarian.data", "22e96bee155b5973568101c93b3705f6"),
    ("processed.switzerland.data", "9a87f7577310b3917730d06ba9349e20"),
    ("processed.va.data", "4249d03ca7711e84f4444768c9426170"),
)
UCI_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/heart-disease/"
SOURCE_HINT = ("afr-box data prepare heart --download (UCI), or --source DIR holding the four "
               "processed.<center>.data files")
COLUMNS = ("age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang",
           "oldpeak", "slope", "ca", "thal", "num")
KEPT = tuple(range(10))          # slope, ca, thal (10-12) are mostly missing outside Cleveland
CATEGORICAL = (2, 6)             # cp, restecg: one-hot, first category dropped
TRAIN_FRACTION = 0.66
SPLIT_SEED = 43
SPLIT_NOTE = ("FLamby Fed-Heart-Disease: per center train_test_split(train_size=0.66, "
              "test_size=0.34, random_state=43, shuffle=True, stratify=num>0 when both "
              "classes have >2 rows); rows in file order; per-center train mean/std normalisation")
OPTIONS = {"normalize": True}


def _read_center(path: Path) -> np.ndarray:
    """Rows of the kept columns plus `num`, as float64, with incomplete rows dropped."""
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != len(COLUMNS):
            raise DataSourceError(f"{path.name} line {lineno}: {len(fields)} fields, expected {len(COLUMNS)}")
        rows.append([math.nan if fields[i].strip() == "?" else float(fields[i]) for i in (*KEPT, 13)])
    table = np.asarray(rows, dtype=np.float64)
    return table[~np.isnan(table).any(axis=1)]


def _approx_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Per-class draws for a stratified split (sklearn's `_approximate_mode`, same RNG use)."""
    exact = counts / counts.sum() * draws
    taken = np.floor(exact)
    missing = int(draws - taken.sum())
    remainder = exact - taken
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing == 0:
            break
        ties = np.flatnonzero(remainder == value)
        add = min(len(ties), missing)
        taken[rng.choice(ties, size=add, replace=False)] += 1
        missing -= add
    return taken.astype(int)


def test_rows(disease: np.ndarray) -> np.ndarray:
    """Row indices of a center's test part, as FLamby's train_test_split call picks them."""
    n = len(disease)
    n_test = math.ceil((1.0 - TRAIN_FRACTION) * n)
    n_train = math.floor(TRAIN_FRACTION * n)
    rng = np.random.RandomState(SPLIT_SEED)
    classes, inverse, counts = np.unique(disease, return_inverse=True, return_counts=True)
    if len(classes) < 2 or counts.min() <= 2:      # FLamby stratifies only in this case
        return np.sort(rng.permutation(n)[:n_test])
    by_class = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    n_i = _approx_mode(counts, n_train, rng)
    t_i = _approx_mode(counts - n_i, n_test, rng)
    picked = [rows[rng.permutation(len(rows))][k:k + t] for rows, k, t in zip(by_class, n_i, t_i)]
    return np.sort(np.concatenate(picked))


def _features(table: np.ndarray, categories: dict[int, np.ndarray]) -> np.ndarray:
    plain = [table[:, j] for j in KEPT if j not in CATEGORICAL]
    dummies = [(table[:, j] == c) for j in CATEGORICAL for c in categories[j][1:]]
    return np.column_stack(plain + dummies).astype(np.float32)


def _normalise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return ((x - mean) / (std + np.float32(1e-9))).astype(np.float32)


def build_sites(folder: Path, normalize: bool = True) -> list[SiteSplit]:
    """The four FLamby centers from md5-verified files in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataSourceError(f"heart data folder {folder} does not exist; pass the folder holding "
                              f"{', '.join(n for n, _ in FILES)} or use --download")
    tables = []
    for name, md5 in FILES:
        verify_md5(folder / name, md5)
        tables.append(_read_center(folder / name))
    # get_dummies runs on the pooled table in FLamby, so categories are pooled too.
    categories = {j: np.unique(np.concatenate([t[:, j] for t in tables])) for j in CATEGORICAL}
    sites = []
    for table in tables:
        x = _features(table, categories)
        y = (table[:, -1] > 0).astype(np.float32)
        is_test = np.zeros(len(y), dtype=bool)
        is_test[test_rows(y)] = True
        x_train, x_test = x[~is_test], x[is_test]
        if normalize:
            # float64 statistics keep the output independent of torch; values then match
            # FLamby's torch float32 statistics to within one float32 ulp.
            mean = x_train.astype(np.float64).mean(axis=0).astype(np.float32)
            std = x_train.astype(np.float64).std(axis=0, ddof=1).astype(np.float32)
            x_train, x_test = _normalise(x_train, mean, std), _normalise(x_test, mean, std)
        sites.append(SiteSplit(x_train, y[~is_test], x_test, y[is_test]))
    return sites


def feature_names() -> list[str]:
    """Column names of x (pooled categories of the md5-pinned files: cp 1-4, restecg 0-2)."""
    plain = [COLUMNS[j] for j in KEPT if j not in CATEGORICAL]
    return plain + ["cp_2", "cp_3", "cp_4", "restecg_1", "restecg_2"]


def _options(options: dict | None) -> dict:
    opts = dict(OPTIONS)
    for key, value in (options or {}).items():
        if key == "num_clients":
            if value != len(FILES):
                raise ValueError(f"heart has exactly {len(FILES)} clients (FLamby centers), got num_clients={value}")
        elif key in opts:
            opts[key] = bool(value)
        else:
            raise ValueError(f"unknown heart data option {key!r}; known: {sorted(OPTIONS)}")
    return opts


def prepare(dest: Path, source: Path | None = None, download: bool = False,
            options: dict | None = None) -> Path:
    """Prepare Fed-Heart-Disease into `dest` from a local folder (`source`) or from UCI."""
    opts = _options(options)
    if download and source is not None:
        raise DataSourceError("give either a source folder or download=True, not both")
    if not download and source is None:
        raise DataSourceError("heart needs its UCI files: pass a source folder (--source) or --download")
    with tempfile.TemporaryDirectory(prefix="afr-heart-") as tmp:
        folder = Path(source) if source is not None else Path(tmp)
        if download:
            for name, _ in FILES:
                fetch_url(UCI_URL + name, folder / name)
        sites = build_sites(folder, normalize=opts["normalize"])
    provenance = {
        "dataset": "Fed-Heart-Disease (FLamby), UCI Heart Disease, CC BY 4.0",
        "files": {name: md5 for name, md5 in FILES},
        "centers": [name.split(".")[1] for name, _ in FILES],
        "features": feature_names(),
        "target": "num > 0",
        "split": SPLIT_NOTE,
        "options": opts,
    }
    return write_prepared(dest, "heart", sites, provenance)
