"""`python -m nodeflow ...` is the same as the `nodeflow` command (the editor starts runs this way)."""
import sys

from nodeflow.cli import main

sys.exit(main())
