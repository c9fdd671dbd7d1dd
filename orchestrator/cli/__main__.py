"""`python -m afr_box.orchestrator.cli` = `afr-box`."""
from afr_box.orchestrator.cli import main

main()
