import sys

from cifar.training.process import main

sys.exit(main())
