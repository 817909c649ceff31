"""``python -m engine.monitor --workspace W``: run the workspace's sampler until it goes idle."""

import sys

from engine.monitor.sampler import main

if __name__ == "__main__":  # also imported by tools that walk every module
    sys.exit(main())
