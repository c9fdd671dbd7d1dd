"""The fixed harness: what runs inside the containers, and all the base image holds of afr-box
besides the fixed task code. init (PID 1), runner (train), export_job (the candidate's job.py in
a process of its own), infer, scorer; the container paths and exit codes they share with the host.
Imports nothing from the host side (sandbox providers, orchestrator, reports)."""
