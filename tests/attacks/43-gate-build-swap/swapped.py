# ATTACK gate-build-swap: written over the private copy after the gate (the gate never saw it).
print("ATTACK gate-build-swap: the swapped job.py runs")
