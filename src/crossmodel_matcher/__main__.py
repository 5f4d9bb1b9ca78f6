import sys

from crossmodel_matcher.cli import main

sys.exit(main())
