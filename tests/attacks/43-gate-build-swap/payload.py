# ATTACK gate-build-swap: the gated job.py. If this runs, the image holds exactly what the gate saw.
raise SystemExit("ATTACK gate-build-swap blocked: the gated job.py ran, not the swapped one")
