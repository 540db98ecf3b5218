"""`python -m dyq_vla_ros.cli`."""

import sys

from dyq_vla_ros.cli import main

sys.exit(main())
