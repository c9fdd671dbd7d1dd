"""What a campaign leaves on disk, typed: the folder layout (layout.py, every file name once),
pydantic models of its JSON files (models.py), row statuses (status.py), the run log
(runlog.py), attack-suite verdicts (attacks.py) and repeat rows (repeats.py). Everything that
reads or writes a campaign folder goes through here; reports read records only."""
