"""afr-box's import root: `afr_box.<folder>` are the repository's folders (setup.py maps them),
and this module holds only the public Python API's names, imported on first use so that
`import afr_box.sandbox...` (as the harness in the containers does) stays light.

    import afr_box
    campaign = afr_box.load_campaign("runs/<campaign>")     # reports/api.py
"""
from pkgutil import extend_path

# A checkout's afr_box/ must not hide the installed sub-packages when Python runs from its root.
__path__ = extend_path(__path__, __name__)

__all__ = ["load_campaign"]


def load_campaign(path):
    """A campaign folder as typed records and pandas frames (afr_box.reports.api.load_campaign)."""
    from afr_box.reports.api import load_campaign as load

    return load(path)
