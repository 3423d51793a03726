import sys

from lrat.cli import main

sys.exit(main())
