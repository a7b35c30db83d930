"""NodeFlow entry point: `python main.py run WORKFLOW ...` is the same as `nodeflow run ...`.

With no arguments it runs the bundled example headless.
"""
import sys
from pathlib import Path

from nodeflow.cli import main

EXAMPLE = ["run", str(Path(__file__).parent / "workflows" / "digits_cnn.json")]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or EXAMPLE))
