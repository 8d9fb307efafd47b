import sys

from cifar.cli.main import main

sys.exit(main())
