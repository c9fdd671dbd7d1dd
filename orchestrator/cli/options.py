"""Options and argument parsing shared by several commands."""
from __future__ import annotations

import json
from pathlib import Path

import click

DATA_ROOT = click.option("--data-root", type=click.Path(path_type=Path), default=None,
                         help="prepared data folder (default: $AFR_DATA_ROOT or ./afr-data)")
RUNS_DIR = click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
WORKSPACE = click.option("--workspace", "workspace_dir", type=click.Path(path_type=Path), default=Path("."),
                         show_default=True, help="the afr-box workspace folder")
JSON = click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
CAMPAIGN_DIR = click.argument("campaign_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))


def data_root_or_default(data_root):
    from afr_box.orchestrator.data import default_data_root

    return data_root or default_data_root()


def seed_list(seeds: str) -> list[int]:
    try:
        return [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"seeds must be integers, got {seeds!r}", param_hint="--seeds") from None


def id_list(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
