import sys

from irlens.cli import main

sys.exit(main())
